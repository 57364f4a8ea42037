# Staff administration pages (roles, teams, audit log, API tokens) — English.
# The key set must equal tr/admin.ftl's (a test checks).

## Modules, actions and scopes of a role
module-pipeline = Pipeline
module-customers = Customers
module-inbox = Inbox
module-broadcasts = Broadcasts
module-agenda = Agenda
module-reports = Reports
module-work-orders = Work orders
module-inventory = Inventory
module-drive = Files
module-users = Users
module-settings = Settings
action-view = View
action-create = Create
action-edit = Edit
action-delete = Delete
action-export = Export
action-bulk = Bulk
action-manage = Manage
scope-own = Own
scope-team = Team
scope-all = All

## Roles
roles-title = Roles
roles-lead = What each role may do in each module, and over which customers. Saving a role signs its holders out so the change applies at once.
roles-empty-title = No roles yet
roles-empty-hint = Create the first role below; the built-in ones come back when the server restarts.
roles-builtin = Built-in
roles-locked = Read-only
roles-users = { $count ->
    [0] no users
    [one] { $n } user
   *[other] { $n } users
}
roles-modules = { $count ->
    [0] no modules
    [one] { $n } module
   *[other] { $n } modules
}
roles-admin-note = The admin role always holds every permission over all customers, so nobody can lock the administrators out. It cannot be edited.
roles-name = Role name
roles-matrix = Permissions
roles-col-module = Module
roles-col-scope = Customers
roles-scope-na = This module holds no customer data: it always reaches everything.
roles-pool = Sees unassigned customers
roles-pool-hint = New leads nobody owns yet appear in this role's lists so they can be picked up.
roles-save = Save role
roles-save-hint = Holders of this role are signed out.
roles-new = New role
roles-new-hint = Up to 80 characters, e.g. “Field sales”.
roles-copy-from = Copy permissions from
roles-copy-none = Nothing (start empty)
roles-create = Create role
toast-role-saved = The role was saved; its holders sign in again.
toast-role-created = The role was created. Set its permissions below.
err-role-name = A role needs a name of 1 to 80 characters.
err-role-exists = Another role already has this name.
err-role-form-unknown = The form sent a field this page does not know (“{ $field }”). Reload the page and try again.
err-role-form-value = The form sent a value this page does not accept for “{ $field }”. Reload the page and try again.
err-role-form-repeated = The form sent “{ $field }” twice. Reload the page and try again.
err-role-form-scope = A module with permissions needs its customer scope (“{ $field }”). Reload the page and try again.

## Teams
teams-title = Teams
teams-lead = Departments and who leads them. A role with the “Team” scope sees the customers of everyone in the user's teams.
teams-empty-title = No teams yet
teams-empty-hint = Create a team to let colleagues see each other's customers with the “Team” scope.
teams-lead-label = Lead
teams-no-lead = No lead
teams-members-count = { $count ->
    [0] Members
    [one] { $n } member
   *[other] { $n } members
}
teams-no-members = Nobody yet
teams-edit = Edit team
teams-name = Team name
teams-members = Members
teams-members-hint = Hold Ctrl (⌘ on a Mac) to pick several. The lead is always a member.
teams-new = New team
teams-create = Create team
toast-team-saved = The team was saved.
toast-team-created = The team was created.
err-team-name = A team needs a name of 1 to 80 characters.
err-team-exists = Another team already has this name.
err-team-members = Pick the lead and the members from the lists.

## Audit log
audit-title = Audit log
audit-lead = Security events: sign-ins, password changes, users, roles, teams and tokens. Newest first.
audit-filters = Filter the log
audit-filter-action = Event
audit-filter-any = Any event
audit-filter-who = Who or what
audit-filter-who-hint = A reference such as user:01J… or role:sales; click a name in the table to fill it.
audit-filter-apply = Filter
audit-filter-clear = Clear filters
audit-empty-title = Nothing in the log yet
audit-empty-hint = Sign-ins and changes to users, roles, teams and tokens will be listed here.
audit-empty-filtered-title = No entries match these filters
audit-empty-filtered-hint = Pick another event or clear the filters.
audit-col-time = Time
audit-col-action = Event
audit-col-actor = By
audit-col-target = Concerning
audit-col-ip = IP address
audit-zone = Times are shown in { $zone }.
audit-newest = Newest entries
audit-older = Older entries
err-audit-action = Pick an event from the list.
audit-subject-role = Role: { $name }
audit-subject-team = Team: { $name }
audit-subject-token = Token: { $name }
audit-subject-anonymous = Unknown visitor
audit-subject-system = System
audit-setup-completed = Setup completed
audit-sign-in = Signed in
audit-sign-in-failed = Sign-in failed
audit-sign-in-throttled = Sign-in throttled
audit-sign-out = Signed out
audit-sign-out-everywhere = Signed out everywhere
audit-password-changed = Password changed
audit-password-reset = Password reset
audit-password-reset-issued = Reset link issued
audit-password-temporary-set = Temporary password set
audit-user-created = User created
audit-user-updated = User updated
audit-user-disabled = User disabled
audit-user-enabled = User enabled
audit-user-offboarded = User offboarded
audit-role-created = Role created
audit-role-updated = Role updated
audit-team-created = Team created
audit-team-updated = Team updated
audit-token-created = Token created
audit-token-revoked = Token revoked
audit-customers-exported = Customers exported

## API tokens
tokens-title = API tokens
tokens-lead = Tokens let scripts and other systems use the CRM as you. Give each one a name and the narrowest scope that does the job.
tokens-created-title = Token “{ $name }” created
tokens-created-note = Copy it now and keep it somewhere safe: it is not shown again. If you lose it, revoke it and create a new one.
tokens-secret-label = The new token
tokens-copy = Copy
tokens-copied = Copied
tokens-created-scope = Scope
tokens-empty-title = No tokens yet
tokens-empty-hint = Create one below when a script, a web form or a monitoring tool needs to reach the CRM.
tokens-live-count = { $count ->
    [0] No live tokens
    [one] { $n } live token
   *[other] { $n } live tokens
}
tokens-col-name = Name
tokens-col-scope = Scope
tokens-col-created = Created
tokens-live = Active
tokens-revoked = Revoked
tokens-revoke = Revoke
tokens-revoke-named = Revoke “{ $name }”
tokens-new = New token
tokens-name-hint = Say where it is used, e.g. “Website contact form”.
tokens-create = Create token
token-scope-full = Full access
token-scope-full-hint = Everything your role allows, as you.
token-scope-intake = Lead intake
token-scope-intake-hint = Only sends new leads (for web forms and partners).
token-scope-metrics = Metrics
token-scope-metrics-hint = Only reads the monitoring metrics.
toast-token-revoked = The token was revoked; it stops working at once.
err-token-name = A token needs a name of 1 to 80 characters.
err-token-scope = Pick one of the scopes.
