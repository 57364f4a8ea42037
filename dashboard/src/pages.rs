//! Page structs: plain data in, HTML out. Nothing here knows the store or
//! sessions; the caller fills the structs (and decides what the user may see).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::assets::Assets;
use crate::i18n::{Lang, Msg, Theme, Tr};

pub mod admin;

/// Rendering a template failed (in practice only a `Display` impl erroring).
#[derive(Debug, thiserror::Error)]
#[error("rendering {page} failed: {source}")]
pub struct RenderError {
    pub page: &'static str,
    #[source]
    pub source: askama::Error,
}

/// The signed-in person, as the top bar shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellUser {
    pub name: String,
    pub email: String,
    pub initials: String,
}

impl ShellUser {
    /// Builds the user with initials taken from the first and last word of `name`.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> ShellUser {
        let name = name.into();
        let initials = initials(&name);
        ShellUser {
            name,
            email: email.into(),
            initials,
        }
    }

    /// The first word of the name, for greetings.
    pub fn first_name(&self) -> &str {
        self.name.split_whitespace().next().unwrap_or(&self.name)
    }
}

/// Up to two initials, upper-cased with Turkish rules (i → İ, ı → I) since
/// most names here are Turkish; `char::to_uppercase` would give "I" for "i".
pub fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let picks = match words.as_slice() {
        [] => vec![],
        [one] => vec![*one],
        [first, .., last] => vec![*first, *last],
    };
    picks
        .into_iter()
        .filter_map(|w| w.chars().next())
        .map(|c| match c {
            'i' => "İ".to_owned(),
            'ı' => "I".to_owned(),
            c => c.to_uppercase().collect(),
        })
        .collect()
}

/// One entry of the side navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NavItem {
    /// Catalog key of the label (`nav-customers`).
    pub label_key: &'static str,
    pub href: String,
    /// Icon id in the sprite (`customers` → `#i-customers`).
    pub icon: &'static str,
    pub active: bool,
}

/// The modules of the dashboard; the caller passes the ones a user may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    Home,
    Pipeline,
    Customers,
    Users,
    Roles,
    Teams,
    Audit,
}

impl Module {
    pub const ALL: [Module; 7] = [
        Module::Home,
        Module::Pipeline,
        Module::Customers,
        Module::Users,
        Module::Roles,
        Module::Teams,
        Module::Audit,
    ];

    pub fn label_key(self) -> &'static str {
        match self {
            Module::Home => "nav-home",
            Module::Pipeline => "nav-pipeline",
            Module::Customers => "nav-customers",
            Module::Users => "nav-users",
            Module::Roles => "nav-roles",
            Module::Teams => "nav-teams",
            Module::Audit => "nav-audit",
        }
    }

    pub fn href(self) -> &'static str {
        match self {
            Module::Home => "/",
            Module::Pipeline => "/pipeline",
            Module::Customers => "/customers",
            Module::Users => "/admin/users",
            Module::Roles => "/admin/roles",
            Module::Teams => "/admin/teams",
            Module::Audit => "/admin/audit",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Module::Home => "home",
            Module::Pipeline => "pipeline",
            Module::Customers => "customers",
            Module::Users => "users",
            Module::Roles => "roles",
            Module::Teams => "teams",
            Module::Audit => "audit",
        }
    }

    pub fn nav_item(self, active: bool) -> NavItem {
        NavItem {
            label_key: self.label_key(),
            href: self.href().to_owned(),
            icon: self.icon(),
            active,
        }
    }

    /// The navigation for the `allowed` modules, in the order given.
    pub fn nav(allowed: &[Module], active: Option<Module>) -> Vec<NavItem> {
        allowed
            .iter()
            .map(|m| m.nav_item(Some(*m) == active))
            .collect()
    }
}

/// The kind of a toast; also its icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastKind {
    Success,
    Error,
    Info,
}

impl ToastKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ToastKind::Success => "success",
            ToastKind::Error => "error",
            ToastKind::Info => "info",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            ToastKind::Success => "check",
            ToastKind::Error | ToastKind::Info => "alert",
        }
    }
}

impl std::fmt::Display for ToastKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message shown once after a redirect ("Preferences saved"), already translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub kind: ToastKind,
    pub text: String,
}

/// What every page carries: language, theme, CSRF token, assets and, when
/// someone is signed in, the shell (user menu, navigation, search text).
#[derive(Debug, Clone)]
pub struct Layout {
    pub lang: Lang,
    pub theme: Theme,
    pub tr: Tr,
    pub csrf: String,
    pub assets: Assets,
    /// `None` renders the bare layout (sign-in, setup, reset, public errors).
    pub user: Option<ShellUser>,
    pub nav: Vec<NavItem>,
    /// The global search box's text.
    pub q: String,
    pub toasts: Vec<Toast>,
}

impl Layout {
    /// A layout without a signed-in user (the bare layout).
    pub fn new(lang: Lang, theme: Theme, csrf: impl Into<String>) -> Layout {
        Layout {
            lang,
            theme,
            tr: Tr::new(lang),
            csrf: csrf.into(),
            assets: Assets::get(),
            user: None,
            nav: Vec::new(),
            q: String::new(),
            toasts: Vec::new(),
        }
    }

    /// Adds the shell: the signed-in user and the modules they may open.
    pub fn signed_in(mut self, user: ShellUser, nav: Vec<NavItem>) -> Layout {
        self.user = Some(user);
        self.nav = nav;
        self
    }

    pub fn with_query(mut self, q: impl Into<String>) -> Layout {
        self.q = q.into();
        self
    }

    pub fn with_toast(mut self, kind: ToastKind, text: impl Into<String>) -> Layout {
        self.toasts.push(Toast {
            kind,
            text: text.into(),
        });
        self
    }

    /// `<meta name="color-scheme">`: fixes the canvas colour before CSS loads.
    pub fn color_scheme(&self) -> &'static str {
        match self.theme {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::System => "light dark",
        }
    }
}

impl Theme {
    /// What the top bar's toggle switches to (JS corrects it for `System`
    /// from the theme actually shown).
    pub fn toggled(self) -> Theme {
        match self {
            Theme::Light | Theme::System => Theme::Dark,
            Theme::Dark => Theme::Light,
        }
    }
}

/// Why a form field was refused; rendered beside the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Required,
    InvalidEmail,
    PasswordTooShort {
        min: usize,
    },
    PasswordMismatch,
    PasswordSameAsCurrent,
    InvalidSetupCode,
    WrongCurrentPassword,
    /// Refused by the password policy: common, personal, a pattern, too long.
    PasswordWeak {
        key: &'static str,
    },
    /// Refused for the reason the catalog key names (a duplicate team name …).
    Invalid {
        key: &'static str,
    },
}

impl FieldError {
    pub const ALL_KEYS: [&'static str; 11] = [
        "err-password-common",
        "err-password-personal",
        "err-password-pattern",
        "err-password-long",
        "err-required",
        "err-email",
        "err-password-short",
        "err-password-mismatch",
        "err-password-same",
        "err-setup-code",
        "err-current-password",
    ];

    pub fn msg(&self) -> Msg {
        match self {
            FieldError::Required => Msg::new("err-required"),
            FieldError::InvalidEmail => Msg::new("err-email"),
            FieldError::PasswordTooShort { min } => {
                Msg::with("err-password-short", "min", min.to_string())
            }
            FieldError::PasswordMismatch => Msg::new("err-password-mismatch"),
            FieldError::PasswordSameAsCurrent => Msg::new("err-password-same"),
            FieldError::InvalidSetupCode => Msg::new("err-setup-code"),
            FieldError::WrongCurrentPassword => Msg::new("err-current-password"),
            FieldError::PasswordWeak { key } | FieldError::Invalid { key } => Msg::new(key),
        }
    }
}

/// Field name → problem, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, FieldError)>);

impl FieldErrors {
    pub fn new() -> FieldErrors {
        FieldErrors::default()
    }

    pub fn add(&mut self, field: &'static str, error: FieldError) {
        self.0.push((field, error));
    }

    pub fn get(&self, field: &str) -> Option<&FieldError> {
        self.0.iter().find(|(f, _)| *f == field).map(|(_, e)| e)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `field` gets `autofocus`: the first field with a problem, or
    /// `first` when there is none.
    pub fn focus(&self, field: &str, first: &str) -> bool {
        match self.0.first() {
            Some((f, _)) => *f == field,
            None => field == first,
        }
    }

    /// The translated message for `field`, if it has a problem.
    pub fn text(&self, tr: &Tr, field: &str) -> Option<String> {
        self.get(field).map(|e| tr.msg(&e.msg()))
    }
}

/// The shortest password the forms ask for, unless the caller says otherwise.
pub const DEFAULT_PASSWORD_MIN: usize = 10;

fn password_hint(tr: &Tr, min: usize) -> String {
    tr.t_args("password-hint", &[("min", &min.to_string())])
}

/// Why sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginError {
    BadCredentials,
    /// Too many failures; the user may try again after this many seconds.
    Throttled {
        wait_secs: u64,
    },
}

/// `GET /login` and a failed `POST /login`.
#[derive(Debug, Clone, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    /// Kept after a failure so only the password is typed again.
    pub email: String,
    /// Where to go after signing in (a local path, checked by the caller).
    pub next: String,
    pub error: Option<LoginError>,
}

impl LoginPage {
    pub fn new(layout: Layout) -> LoginPage {
        LoginPage {
            layout,
            email: String::new(),
            next: String::new(),
            error: None,
        }
    }

    pub const KEYS: [&'static str; 2] = ["wait-seconds", "wait-minutes"];

    fn failed(&self) -> bool {
        self.error == Some(LoginError::BadCredentials)
    }

    /// "45 saniye" / "3 dakika": minutes from two minutes up, rounded up.
    fn throttle_wait(&self) -> Option<String> {
        let Some(LoginError::Throttled { wait_secs }) = self.error else {
            return None;
        };
        let tr = self.layout.tr;
        Some(if wait_secs >= 120 {
            tr.tn("wait-minutes", wait_secs.div_ceil(60))
        } else {
            tr.tn("wait-seconds", wait_secs.max(1))
        })
    }
}

/// First-run setup: creates the first administrator.
#[derive(Debug, Clone, Template)]
#[template(path = "setup.html")]
pub struct SetupPage {
    pub layout: Layout,
    pub code: String,
    pub name: String,
    pub email: String,
    /// Fields: `code`, `name`, `email`, `password`, `password_confirm`.
    pub errors: FieldErrors,
    pub password_min: usize,
}

impl SetupPage {
    pub fn new(layout: Layout) -> SetupPage {
        SetupPage {
            layout,
            code: String::new(),
            name: String::new(),
            email: String::new(),
            errors: FieldErrors::new(),
            password_min: DEFAULT_PASSWORD_MIN,
        }
    }

    fn password_hint(&self) -> String {
        password_hint(&self.layout.tr, self.password_min)
    }
}

/// Setting a new password from a one-time link; posts `token` back to `/reset`.
#[derive(Debug, Clone, Template)]
#[template(path = "reset.html")]
pub struct ResetPage {
    pub layout: Layout,
    pub token: String,
    /// The link is unknown, used or expired: no form, a way back.
    pub expired: bool,
    /// Fields: `password`, `password_confirm`.
    pub errors: FieldErrors,
    pub password_min: usize,
}

impl ResetPage {
    pub fn new(layout: Layout, token: impl Into<String>) -> ResetPage {
        ResetPage {
            layout,
            token: token.into(),
            expired: false,
            errors: FieldErrors::new(),
            password_min: DEFAULT_PASSWORD_MIN,
        }
    }

    fn password_hint(&self) -> String {
        password_hint(&self.layout.tr, self.password_min)
    }
}

/// `/me/password` inside the shell.
#[derive(Debug, Clone, Template)]
#[template(path = "change_password.html")]
pub struct ChangePasswordPage {
    pub layout: Layout,
    /// Fields: `current_password`, `password`, `password_confirm`.
    pub errors: FieldErrors,
    pub password_min: usize,
}

impl ChangePasswordPage {
    pub fn new(layout: Layout) -> ChangePasswordPage {
        ChangePasswordPage {
            layout,
            errors: FieldErrors::new(),
            password_min: DEFAULT_PASSWORD_MIN,
        }
    }

    fn password_hint(&self) -> String {
        password_hint(&self.layout.tr, self.password_min)
    }
}

/// The error pages; each renders with its own status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Forbidden,
    NotFound,
    Internal,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 3] = [
        ErrorKind::Forbidden,
        ErrorKind::NotFound,
        ErrorKind::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title_key(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "error-403-title",
            ErrorKind::NotFound => "error-404-title",
            ErrorKind::Internal => "error-500-title",
        }
    }

    pub fn text_key(self) -> &'static str {
        match self {
            ErrorKind::Forbidden => "error-403-text",
            ErrorKind::NotFound => "error-404-text",
            ErrorKind::Internal => "error-500-text",
        }
    }

    pub fn keys(self) -> [&'static str; 2] {
        [self.title_key(), self.text_key()]
    }
}

/// 403 / 404 / 500: inside the shell when `layout.user` is set, bare otherwise.
#[derive(Debug, Clone, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub kind: ErrorKind,
}

/// One customer in the search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    pub id: String,
    pub name: String,
    /// Already masked by the caller ("+90 532 *** ** 67").
    pub phone_masked: String,
    pub email: String,
    /// The stage's display name.
    pub stage: String,
}

impl CustomerRow {
    pub fn initials(&self) -> String {
        initials(&self.name)
    }
}

/// `GET /search?q=` inside the shell; the query is `layout.q`.
#[derive(Debug, Clone, Template)]
#[template(path = "search.html")]
pub struct SearchPage {
    pub layout: Layout,
    pub results: Vec<CustomerRow>,
    /// All matches, when more exist than `results` shows.
    pub total: i64,
}

/// The signed-in landing page.
#[derive(Debug, Clone, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub layout: Layout,
}

impl HomePage {
    fn can_open(&self, href: &str) -> bool {
        self.layout.nav.iter().any(|n| n.href == href)
    }
}

/// A time zone offered in the preferences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZoneChoice {
    /// IANA name, what the form posts.
    pub id: &'static str,
    pub label_key: &'static str,
}

/// The zones offered by default; Istanbul first for the Turkish market.
pub const TIME_ZONES: [TimeZoneChoice; 5] = [
    TimeZoneChoice {
        id: "Europe/Istanbul",
        label_key: "tz-europe-istanbul",
    },
    TimeZoneChoice {
        id: "UTC",
        label_key: "tz-utc",
    },
    TimeZoneChoice {
        id: "Europe/London",
        label_key: "tz-europe-london",
    },
    TimeZoneChoice {
        id: "Europe/Berlin",
        label_key: "tz-europe-berlin",
    },
    TimeZoneChoice {
        id: "Asia/Dubai",
        label_key: "tz-asia-dubai",
    },
];

/// `/me` preferences; posts `lang`, `theme`, `time_zone` to `/me/preferences`.
/// The current language and theme are `layout.lang` / `layout.theme`.
#[derive(Debug, Clone, Template)]
#[template(path = "preferences.html")]
pub struct PreferencesPage {
    pub layout: Layout,
    pub time_zone: String,
    pub zones: Vec<TimeZoneChoice>,
}

impl PreferencesPage {
    pub fn new(layout: Layout, time_zone: impl Into<String>) -> PreferencesPage {
        PreferencesPage {
            layout,
            time_zone: time_zone.into(),
            zones: TIME_ZONES.to_vec(),
        }
    }

    fn themes(&self) -> &'static [Theme] {
        &Theme::ALL
    }
}

/// Renders a page to a string.
pub fn render<T: Template>(page: &T) -> Result<String, RenderError> {
    page.render().map_err(|source| RenderError {
        page: std::any::type_name::<T>(),
        source,
    })
}

/// Renders a page as `Html`.
pub fn html<T: Template>(page: &T) -> Result<Html<String>, RenderError> {
    render(page).map(Html)
}

/// Renders a page as a response with `status`. Pages carry the user's CSRF
/// token, so they are never stored by caches (`no-store`).
pub fn respond<T: Template>(status: StatusCode, page: &T) -> Response {
    match render(page) {
        Ok(body) => {
            let mut res = (status, Html(body)).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
}

macro_rules! into_response {
    ($($page:ty),*) => {$(
        impl IntoResponse for $page {
            fn into_response(self) -> Response {
                respond(self.status(), &self)
            }
        }
    )*};
}

into_response!(
    LoginPage,
    SetupPage,
    ResetPage,
    ChangePasswordPage,
    SearchPage,
    HomePage,
    PreferencesPage,
    ErrorPage
);

/// The status a page is answered with: 422 for a form sent back with
/// problems, 429 while sign-in is throttled, the error's own code.
pub trait PageStatus {
    fn status(&self) -> StatusCode {
        StatusCode::OK
    }
}

fn form_status(errors: &FieldErrors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

impl PageStatus for LoginPage {
    fn status(&self) -> StatusCode {
        match self.error {
            None => StatusCode::OK,
            Some(LoginError::BadCredentials) => StatusCode::UNPROCESSABLE_ENTITY,
            Some(LoginError::Throttled { .. }) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl PageStatus for SetupPage {
    fn status(&self) -> StatusCode {
        form_status(&self.errors)
    }
}

impl PageStatus for ResetPage {
    fn status(&self) -> StatusCode {
        if self.expired {
            StatusCode::GONE
        } else {
            form_status(&self.errors)
        }
    }
}

impl PageStatus for ChangePasswordPage {
    fn status(&self) -> StatusCode {
        form_status(&self.errors)
    }
}

impl PageStatus for SearchPage {}
impl PageStatus for HomePage {}
impl PageStatus for PreferencesPage {}

impl PageStatus for ErrorPage {
    fn status(&self) -> StatusCode {
        self.kind.status()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn layout(lang: Lang) -> Layout {
        Layout::new(lang, Theme::Dark, "tok<en>")
    }

    fn shell(lang: Lang) -> Layout {
        layout(lang).signed_in(
            ShellUser::new("ismail Öz", "i@example.com"),
            Module::nav(&[Module::Home, Module::Customers], Some(Module::Customers)),
        )
    }

    #[test]
    fn initials_follow_turkish_rules() {
        assert_eq!(initials("ismail öz"), "İÖ");
        assert_eq!(initials("Ayşe Nur Yılmaz"), "AY");
        assert_eq!(initials("ırmak"), "I");
        assert_eq!(initials("  "), "");
    }

    #[test]
    fn shell_has_lang_theme_csrf_nav_and_escapes() {
        let page = HomePage {
            layout: shell(Lang::Tr).with_query("<b>x</b>"),
        };
        let html = render(&page).unwrap();
        assert!(html.contains(r#"<html lang="tr" data-theme="dark">"#));
        assert!(
            html.contains(r#"<meta name="csrf-token" content="tok&#60;en&#62;">"#),
            "{html}"
        );
        assert!(html.contains(r#"value="&#60;b&#62;x&#60;/b&#62;""#));
        assert!(html.contains(r#"href="/customers" aria-current="page""#));
        assert!(
            !html.contains("/admin/users"),
            "nav shows only allowed modules"
        );
        assert!(html.contains(r#"action="/logout""#));
        assert!(html.contains(r#"<span class="avatar avatar-md" aria-hidden="true">İÖ</span>"#));
        assert!(html.contains(Assets::get().css));
        assert!(!html.contains("Unknown localization key"));
    }

    #[test]
    fn login_keeps_email_not_password_and_says_why() {
        let page = LoginPage {
            email: "a@b.c".into(),
            error: Some(LoginError::Throttled { wait_secs: 300 }),
            ..LoginPage::new(layout(Lang::Tr))
        };
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        let html = render(&page).unwrap();
        assert!(html.contains(r#"value="a@b.c""#));
        assert!(html.contains("5 dakika sonra yeniden deneyin"), "{html}");
        assert!(html.contains(r#"<label for="f-password">Parola</label>"#));
        let en = LoginPage {
            error: Some(LoginError::Throttled { wait_secs: 1 }),
            ..LoginPage::new(layout(Lang::En))
        };
        assert!(render(&en).unwrap().contains("try again in 1 second."));
    }

    #[test]
    fn setup_errors_sit_beside_their_fields() {
        let mut errors = FieldErrors::new();
        errors.add("email", FieldError::InvalidEmail);
        errors.add("password", FieldError::PasswordTooShort { min: 14 });
        let page = SetupPage {
            email: "ayse@".into(),
            name: "Ayşe".into(),
            errors,
            ..SetupPage::new(layout(Lang::En))
        };
        assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = render(&page).unwrap();
        let email = html.find(r#"id="f-email""#).unwrap();
        let err = html.find(r#"id="f-email-error""#).unwrap();
        let next = html.find(r#"id="f-password""#).unwrap();
        assert!(
            email < err && err < next,
            "email error right after its input"
        );
        assert!(html.contains(r#"aria-describedby="f-email-error""#));
        assert!(html.contains("at least 14 characters."));
        assert!(html.contains(r#"value="Ayşe""#), "{html}");
        assert!(!html.contains(r#"id="f-name-error""#));
    }

    #[test]
    fn search_lists_rows_or_says_what_to_try() {
        let row = CustomerRow {
            id: "c1".into(),
            name: "Şule Çağlar".into(),
            phone_masked: "+90 505 *** ** 12".into(),
            email: "s@example.com".into(),
            stage: "Yeni".into(),
        };
        let page = SearchPage {
            layout: shell(Lang::Tr).with_query("0505"),
            results: vec![row],
            total: 1,
        };
        let html = render(&page).unwrap();
        assert!(html.contains(r#"href="/customers/c1""#));
        assert!(html.contains("1 müşteri bulundu"));
        let empty = SearchPage {
            layout: shell(Lang::En).with_query("Kaya"),
            results: vec![],
            total: 0,
        };
        let html = render(&empty).unwrap();
        assert!(html.contains("No customer matches “Kaya”"), "{html}");
        assert!(html.contains("phone number in any format"));
    }

    #[test]
    fn error_pages_carry_their_status() {
        for kind in ErrorKind::ALL {
            let page = ErrorPage {
                layout: layout(Lang::Tr),
                kind,
            };
            let res = page.into_response();
            assert_eq!(res.status(), kind.status());
            assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        }
    }

    #[test]
    fn preferences_mark_the_current_choices() {
        let page = PreferencesPage::new(shell(Lang::En), "Asia/Dubai");
        let html = render(&page).unwrap();
        assert!(html.contains(r#"value="Asia/Dubai" selected"#));
        assert!(html.contains(r#"value="dark" checked"#));
        assert!(html.contains(r#"<option value="en" selected lang="en">"#));
        assert!(html.contains(r#"action="/me/preferences""#));
    }
}
