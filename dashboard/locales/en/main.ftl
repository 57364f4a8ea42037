# Staff dashboard — English. The key set must equal tr/main.ftl's (a test checks).

app-name = CRM

## Shell
skip-to-content = Skip to content
nav-label = Main menu
nav-toggle = Open menu
nav-close = Close menu
search-label = Search customers
search-placeholder = Name, phone or e-mail
theme-toggle = Light / dark theme
user-menu = Account menu
menu-preferences = Preferences
menu-password = Change password
menu-tokens = API tokens
menu-signout = Sign out
toasts-label = Notifications
toast-close = Dismiss

## Modules
nav-home = Home
nav-pipeline = Pipeline
nav-customers = Customers
nav-users = Users
nav-roles = Roles
nav-teams = Teams
nav-audit = Audit log

## Common
field-email = E-mail
field-password = Password
field-name = Full name
field-new-password = New password
field-password-confirm = New password (again)
field-current-password = Current password
password-hint = At least { $min } characters. A long sentence is safer than a short, complex password.
form-has-errors = Some fields need your attention.
back-to-login = Back to sign in
save = Save
cancel = Cancel
wait-seconds = { $count ->
    [one] { $n } second
   *[other] { $n } seconds
}
wait-minutes = { $count ->
    [one] { $n } minute
   *[other] { $n } minutes
}

## Field errors
err-required = This field is required.
err-email = Enter a valid e-mail address (e.g. name@company.com).
err-password-short = The password must be at least { $min } characters.
err-password-mismatch = The two passwords do not match.
err-password-same = The new password must differ from the current one.
err-setup-code = The setup code is wrong. Type the code from the server log exactly.
err-current-password = The current password is wrong.

## Sign in
login-title = Sign in
login-lead = Use your company e-mail address and password.
login-submit = Sign in
login-failed = The e-mail or password is wrong.
login-throttled = Too many failed attempts. Please try again in { $wait }.
login-forgot = Forgot your password? Ask your administrator for a new reset link.

## First-run setup
setup-title = First-run setup
setup-lead = This server has no users yet. Create the first administrator account.
field-setup-code = Setup code
setup-code-hint = The server wrote this code to its log when it first started.
setup-submit = Create administrator account

## Password reset
reset-title = Set a new password
reset-lead = This link works once. Type your new password twice.
reset-submit = Save password
reset-expired = This link has expired or was already used. Ask your administrator for a new one.

## Change password
password-title = Change password
password-lead = Your sessions on other devices are signed out after the change.
password-submit = Change password

## Error pages
error-home = Go to the home page
error-403-title = You do not have access to this page
error-403-text = Your role does not allow opening this section. Ask your administrator if you need access.
error-404-title = Page not found
error-404-text = The page may have moved or been deleted. Check the address or continue from the home page.
error-500-title = Something went wrong
error-500-text = Your request could not be completed. Try again in a moment; if it keeps happening, tell your administrator.

## Search
search-title = Search
search-count = { $count ->
    [0] No customers found
    [one] { $n } customer found
   *[other] { $n } customers found
}
search-shown = { $count ->
    [one] Showing the first result. Narrow your search.
   *[other] Showing the first { $n } results. Narrow your search.
}
search-start-title = Search for a customer
search-start-hint = Type a name, phone or e-mail in the box above. The / key takes you straight there.
search-no-results = No customer matches “{ $q }”
search-no-results-hint = Try a phone number in any format (0532 123 45 67, +90 532…) or an e-mail address.
col-name = Name
col-phone = Phone
col-email = E-mail
col-stage = Stage

## Home
home-title = Home
home-greeting = Hello, { $name }
home-lead = Start here: find a customer, look at the pipeline or set your preferences.
home-hint-search-title = Find a customer
home-hint-search = Search by name, phone or e-mail. Shortcut: /
home-hint-pipeline-title = Open the pipeline
home-hint-pipeline = See customers by stage and move them to the next step.
home-hint-prefs-title = Set your preferences
home-hint-prefs = Language, theme and time zone.
home-today = Today
home-today-empty = Nothing waiting for today
home-today-hint = Reminders and appointments will be listed here as they arrive.

## Preferences
prefs-title = Preferences
prefs-lead = These settings apply to your account only.
prefs-language = Language
lang-tr = Türkçe
lang-en = English
prefs-theme = Theme
theme-light = Light
theme-dark = Dark
theme-system = System
prefs-theme-hint = “System” follows your device’s light or dark setting.
prefs-timezone = Time zone
prefs-timezone-hint = Dates and times are shown in this zone.
tz-europe-istanbul = Istanbul (UTC+3)
tz-utc = UTC (Coordinated Universal Time)
tz-europe-london = London
tz-europe-berlin = Berlin
tz-asia-dubai = Dubai (UTC+4)

## Notifications
toast-prefs-saved = Your preferences were saved.
toast-password-changed = Your password was changed.
err-password-common = This password is on a list of common passwords; choose another.
err-password-personal = A password must not be your e-mail address or name.
err-password-pattern = A password must not be one character repeated or a simple sequence.
err-password-long = A password has at most 256 characters.

customers-title = Customers
customers-scope-all = Every customer.
customers-scope-team = Customers of your teams and the unassigned ones your role may see.
customers-scope-own = Customers you own or are assigned to.
customers-empty-title = No customers here yet
customers-empty-hint = New leads from forms, Meta and WhatsApp appear here once they are assigned to you; a manager assigns them.
customers-more = Show more
users-title = Users
users-lead = Who works in the CRM, their role and teams. Offboarding hands a user's customers to a colleague in one step.
col-role = Role
col-teams = Teams
col-state = State
col-actions = Actions
user-active = Active
user-disabled = Disabled
offboard-to = Hand their work to
offboard-choose = Hand over to…
offboard-submit = Offboard
offboard-done = { $name } is offboarded: { $customers } customers moved to { $to }; { $sessions } sessions and { $tokens } tokens ended.
users-new = Add a user
field-temporary-password = Temporary password
users-temporary-hint = They choose their own at first sign-in.
users-create = Create user
toast-user-created = User created.
