//! The dashboard's handlers: each reads the session through the API's
//! extractors, asks the store, fills a page struct from [`crate::pages`].
//! Forms post back and redirect (POST-redirect-GET); a form with problems is
//! rendered again with the message beside the field and the input kept.

mod admin;
mod people;
mod viewer;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crm_api::AppState;
use crm_api::auth::{SESSION_COOKIE, cookie, origin_ok, session_of};
use crm_api::signin::{
    PasswordError, RequestOrigin, SetupError, SignInError, audit, change_password,
    cleared_session_cookie, complete_setup, hash_new_password, session_cookie, sign_in,
};
use crm_domain::access::{Action, Module as Grant, customer_scope};
use crm_domain::audit::{AuditAction, AuditRecord};
use crm_domain::password::WeakPassword;
use crm_store::CustomerFilter;
use serde::Deserialize;

use crate::pages::{
    ChangePasswordPage, CustomerRow, ErrorKind, ErrorPage, FieldError, HomePage, Layout,
    LoginError, LoginPage, PreferencesPage, ResetPage, SearchPage, SetupPage, ToastKind,
};
use crate::{Lang, Theme};
pub(crate) use viewer::Viewer;

/// The cookie anonymous forms (sign-in, setup, reset) double-submit as
/// their CSRF token: there is no session yet to hold one.
const FORM_COOKIE: &str = "crm_form";
/// Language and theme remembered by the browser, so the sign-in page after
/// a sign-out looks as the user left it.
const UI_COOKIE: &str = "crm_ui";
/// Form posts are a handful of fields.
const FORM_BODY_LIMIT: usize = 16 * 1024;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    // Forms without a session: they check their own double-submit token.
    let anonymous = axum::Router::new()
        .route("/setup", get(setup_form).post(setup))
        .route("/login", get(login_form).post(login))
        .route("/reset/{token}", get(reset_form))
        .route("/reset", post(reset));
    let signed_in = axum::Router::new()
        .route("/", get(home))
        .route("/logout", post(logout))
        .route("/logout/everywhere", post(logout_everywhere))
        .route("/search", get(search))
        .route("/me", get(preferences))
        .route("/me/preferences", post(save_preferences))
        .route("/me/theme", post(save_theme))
        .route("/me/password", get(password_form).post(password))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            viewer::csrf_guard,
        ));
    let pages = anonymous
        .merge(signed_in)
        .merge(people::router(state))
        .merge(admin::router(state))
        .layer(crm_api::body_limit::BodyLimitLayer(FORM_BODY_LIMIT));
    let mut app = pages.merge(crate::assets::router().with_state(()));
    if std::env::var("CRM_DASHBOARD_PREVIEW").is_ok_and(|v| v == "1") {
        app = app.merge(crate::preview_router().with_state(()));
    }
    app
}

/// How an anonymous page looks: the remembered choice, else the browser's.
fn anonymous_look(headers: &HeaderMap) -> (Lang, Theme) {
    let remembered = cookie(headers, UI_COOKIE).and_then(|v| v.split_once('.'));
    let lang = remembered
        .and_then(|(l, _)| Lang::parse(l))
        .unwrap_or_else(|| {
            Lang::negotiate(
                headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok()),
            )
        });
    let theme = remembered
        .and_then(|(_, t)| Theme::parse(t))
        .unwrap_or(Theme::System);
    (lang, theme)
}

fn ui_cookie(lang: Lang, theme: Theme) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{UI_COOKIE}={}.{}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.as_str(),
        theme.as_str()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("crm_ui=; Path=/"))
}

/// An anonymous form's layout and the `Set-Cookie` of its CSRF token (kept
/// when the browser has one already, so two tabs do not fight).
fn anonymous_layout(headers: &HeaderMap) -> (Layout, Option<HeaderValue>) {
    let (lang, theme) = anonymous_look(headers);
    if let Some(token) = cookie(headers, FORM_COOKIE) {
        return (Layout::new(lang, theme, token), None);
    }
    let token = crm_domain::auth::random_secret().unwrap_or_default();
    let set = HeaderValue::from_str(&format!(
        "{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax"
    ))
    .ok();
    (Layout::new(lang, theme, token), set)
}

fn with_cookies(mut res: Response, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    for c in cookies {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// Whether an anonymous form's token matches its cookie and it came from here.
fn anonymous_csrf_ok(st: &AppState, headers: &HeaderMap, sent: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some(expected) = cookie(headers, FORM_COOKIE) else {
        return false;
    };
    !sent.is_empty()
        && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
        && origin_ok(st, headers)
}

fn forbidden_page(layout: Layout) -> Response {
    ErrorPage {
        layout,
        kind: ErrorKind::Forbidden,
    }
    .into_response()
}

fn internal_page(layout: Layout, e: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crm_domain::util::error_chain(e), "page failed");
    ErrorPage {
        layout,
        kind: ErrorKind::Internal,
    }
    .into_response()
}

/// A local path to go to after signing in; anything else goes home.
fn safe_next(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/"
    }
}

fn weak(w: &WeakPassword) -> FieldError {
    match w {
        WeakPassword::TooShort => FieldError::PasswordTooShort {
            min: crm_domain::password::MIN_CHARS,
        },
        WeakPassword::TooLong => FieldError::PasswordWeak {
            key: "err-password-long",
        },
        WeakPassword::Common => FieldError::PasswordWeak {
            key: "err-password-common",
        },
        WeakPassword::Personal => FieldError::PasswordWeak {
            key: "err-password-personal",
        },
        WeakPassword::Pattern => FieldError::PasswordWeak {
            key: "err-password-pattern",
        },
    }
}

async fn home(viewer: Viewer) -> Response {
    HomePage {
        layout: viewer.layout(Some(crate::pages::Module::Home)),
    }
    .into_response()
}

#[derive(Debug, Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn setup_form(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let (layout, set) = anonymous_layout(&headers);
    match st.store.setup_pending().await {
        Ok(true) => {
            let mut page = SetupPage::new(layout);
            page.password_min = crm_domain::password::MIN_CHARS;
            with_cookies(page.into_response(), set)
        }
        Ok(false) => Redirect::to("/login").into_response(),
        Err(e) => internal_page(layout, &e),
    }
}

#[derive(Debug, Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn setup(
    State(st): State<AppState>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<SetupForm>,
) -> Response {
    let (layout, set) = anonymous_layout(&headers);
    if !anonymous_csrf_ok(&st, &headers, &f.csrf) {
        return forbidden_page(layout);
    }
    let mut page = SetupPage::new(layout);
    page.password_min = crm_domain::password::MIN_CHARS;
    page.code = f.code.trim().to_string();
    page.name = f.name.trim().to_string();
    page.email = f.email.trim().to_string();
    for (field, value) in [
        ("code", &f.code),
        ("name", &f.name),
        ("email", &f.email),
        ("password", &f.password),
    ] {
        if value.trim().is_empty() {
            page.errors.add(field, FieldError::Required);
        }
    }
    if !f.password.is_empty() && f.password != f.password_confirm {
        page.errors
            .add("password_confirm", FieldError::PasswordMismatch);
    }
    if !page.errors.is_empty() {
        return with_cookies(page.into_response(), set);
    }
    match complete_setup(&st, &f.code, &f.name, &f.email, &f.password, &origin).await {
        Ok((_, session)) => with_cookies(
            Redirect::to("/").into_response(),
            [session_cookie(&st, &session.cookie)],
        ),
        Err(SetupError::Done) => Redirect::to("/login").into_response(),
        Err(SetupError::Code) => {
            page.errors.add("code", FieldError::InvalidSetupCode);
            page.into_response()
        }
        Err(SetupError::Email) => {
            page.errors.add("email", FieldError::InvalidEmail);
            page.into_response()
        }
        Err(SetupError::Password(PasswordError::Weak(w))) => {
            page.errors.add("password", weak(&w));
            page.into_response()
        }
        Err(e) => internal_page(page.layout, &e),
    }
}

async fn login_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    if matches!(st.store.setup_pending().await, Ok(true)) {
        return Redirect::to("/setup").into_response();
    }
    if let Ok(Some(_)) = session_of(&st, &headers).await {
        return Redirect::to(safe_next(q.next.as_deref().unwrap_or("/"))).into_response();
    }
    let (layout, set) = anonymous_layout(&headers);
    let mut page = LoginPage::new(layout);
    page.next = q
        .next
        .map(|n| safe_next(&n).to_string())
        .unwrap_or_default();
    with_cookies(page.into_response(), set)
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<LoginForm>,
) -> Response {
    let (layout, set) = anonymous_layout(&headers);
    if !anonymous_csrf_ok(&st, &headers, &f.csrf) {
        return forbidden_page(layout);
    }
    let old = cookie(&headers, SESSION_COOKIE);
    let mut page = LoginPage::new(layout);
    page.email = f.email.trim().to_string();
    page.next = safe_next(&f.next).to_string();
    match sign_in(&st, &f.email, &f.password, &origin, old).await {
        Ok((user, session)) => {
            let mut cookies = vec![session_cookie(&st, &session.cookie)];
            if let Ok(u) = st.store.user(&user).await {
                let lang = u
                    .language
                    .as_deref()
                    .and_then(Lang::parse)
                    .unwrap_or(page.layout.lang);
                cookies.push(ui_cookie(
                    lang,
                    Theme::parse(&u.theme).unwrap_or(Theme::System),
                ));
            }
            with_cookies(Redirect::to(safe_next(&f.next)).into_response(), cookies)
        }
        Err(SignInError::Invalid) => {
            page.error = Some(LoginError::BadCredentials);
            with_cookies(page.into_response(), set)
        }
        Err(SignInError::Throttled { wait_ms }) => {
            page.error = Some(LoginError::Throttled {
                wait_secs: u64::try_from(wait_ms.div_euclid(1000).max(1)).unwrap_or(1),
            });
            with_cookies(page.into_response(), set)
        }
        Err(e) => internal_page(page.layout, &e),
    }
}

async fn logout(State(st): State<AppState>, viewer: Viewer) -> Response {
    if let Err(e) = st.store.end_session(&viewer.signed.cookie).await {
        return internal_page(viewer.layout(None), &e);
    }
    audit(
        &st,
        AuditRecord::new(AuditAction::SignOut, viewer.principal.actor_label()),
    )
    .await;
    with_cookies(
        Redirect::to("/login").into_response(),
        [
            cleared_session_cookie(&st),
            ui_cookie(viewer.lang, viewer.theme),
        ],
    )
}

async fn logout_everywhere(State(st): State<AppState>, viewer: Viewer) -> Response {
    match st.store.end_sessions_of(&viewer.user.id).await {
        Ok(n) => {
            audit(
                &st,
                AuditRecord::new(
                    AuditAction::SignOutEverywhere,
                    viewer.principal.actor_label(),
                )
                .target(format!("user:{}", viewer.user.id))
                .detail(serde_json::json!({"sessions": n})),
            )
            .await;
            with_cookies(
                Redirect::to("/login").into_response(),
                [
                    cleared_session_cookie(&st),
                    ui_cookie(viewer.lang, viewer.theme),
                ],
            )
        }
        Err(e) => internal_page(viewer.layout(None), &e),
    }
}

async fn reset_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let (layout, set) = anonymous_layout(&headers);
    let mut page = ResetPage::new(layout, token.clone());
    page.password_min = crm_domain::password::MIN_CHARS;
    match st.store.password_reset_user(&token).await {
        Ok(Some(_)) => {}
        Ok(None) => page.expired = true,
        Err(e) => return internal_page(page.layout, &e),
    }
    with_cookies(page.into_response(), set)
}

#[derive(Debug, Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn reset(
    State(st): State<AppState>,
    headers: HeaderMap,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<ResetForm>,
) -> Response {
    let (layout, _) = anonymous_layout(&headers);
    if !anonymous_csrf_ok(&st, &headers, &f.csrf) {
        return forbidden_page(layout);
    }
    let mut page = ResetPage::new(layout, f.token.clone());
    page.password_min = crm_domain::password::MIN_CHARS;
    let user = match st.store.password_reset_user(&f.token).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            page.expired = true;
            return page.into_response();
        }
        Err(e) => return internal_page(page.layout, &e),
    };
    if f.password != f.password_confirm {
        page.errors
            .add("password_confirm", FieldError::PasswordMismatch);
        return page.into_response();
    }
    let personal = match st.store.user(&user).await {
        Ok(u) => vec![u.email.clone(), u.name.clone().unwrap_or_default()],
        Err(e) => return internal_page(page.layout, &e),
    };
    let personal: Vec<&str> = personal.iter().map(String::as_str).collect();
    let hash = match hash_new_password(&f.password, &personal).await {
        Ok(h) => h,
        Err(PasswordError::Weak(w)) => {
            page.errors.add("password", weak(&w));
            return page.into_response();
        }
        Err(e) => return internal_page(page.layout, &e),
    };
    match st.store.use_password_reset(&f.token, &hash).await {
        Ok(Some(user)) => {
            audit(
                &st,
                AuditRecord::new(AuditAction::PasswordReset, format!("user:{user}"))
                    .target(format!("user:{user}"))
                    .ip(origin.ip.clone()),
            )
            .await;
            Redirect::to("/login").into_response()
        }
        Ok(None) => {
            page.expired = true;
            page.into_response()
        }
        Err(e) => internal_page(page.layout, &e),
    }
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(
    State(st): State<AppState>,
    viewer: Viewer,
    Query(q): Query<SearchQuery>,
) -> Response {
    let text =
        q.q.unwrap_or_default()
            .trim()
            .chars()
            .take(200)
            .collect::<String>();
    let layout = viewer.layout(None).with_query(text.clone());
    if text.is_empty() {
        return SearchPage {
            layout,
            results: Vec::new(),
            total: 0,
        }
        .into_response();
    }
    let scope = customer_scope(&viewer.principal.actor, Grant::Customers, Action::View);
    // A phone in any format or an e-mail finds by identity; anything else
    // by the name/phone/e-mail token index.
    let mut filter = CustomerFilter {
        limit: 50,
        ..Default::default()
    };
    if let Some(e) = crm_domain::email::normalize_email(&text) {
        filter.email = Some(e);
    } else if text.chars().filter(char::is_ascii_digit).count() >= 7
        && let Some(p) = crm_domain::phone::normalize_phone(&text, &st.config.default_region)
    {
        filter.phone = Some(p);
    } else {
        filter.q = Some(text);
    }
    match st.store.list_customers(&scope, &filter).await {
        Ok(page) => {
            let results: Vec<CustomerRow> = page
                .items
                .iter()
                .map(|c| people::row(c, layout.tr))
                .collect();
            let total =
                i64::try_from(results.len()).unwrap_or(0) + i64::from(page.next_cursor.is_some());
            SearchPage {
                layout,
                results,
                total,
            }
            .into_response()
        }
        Err(e) => internal_page(layout, &e),
    }
}

#[derive(Debug, Deserialize)]
struct SavedQuery {
    saved: Option<String>,
}

async fn preferences(viewer: Viewer, Query(q): Query<SavedQuery>) -> Response {
    let mut layout = viewer.layout(None);
    let tr = layout.tr;
    match q.saved.as_deref() {
        Some("prefs") => layout = layout.with_toast(ToastKind::Success, tr.t("toast-prefs-saved")),
        Some("password") => {
            layout = layout.with_toast(ToastKind::Success, tr.t("toast-password-changed"))
        }
        _ => {}
    }
    PreferencesPage::new(layout, viewer.user.time_zone.clone()).into_response()
}

#[derive(Debug, Deserialize)]
struct PreferencesForm {
    lang: String,
    theme: String,
    time_zone: String,
}

async fn save_preferences(
    State(st): State<AppState>,
    viewer: Viewer,
    Form(f): Form<PreferencesForm>,
) -> Response {
    let (Some(lang), Some(theme)) = (Lang::parse(&f.lang), Theme::parse(&f.theme)) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    if !crate::pages::TIME_ZONES.iter().any(|z| z.id == f.time_zone) {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    match st
        .store
        .set_preferences(
            &viewer.user.id,
            Some(lang.as_str()),
            theme.as_str(),
            &f.time_zone,
        )
        .await
    {
        Ok(()) => with_cookies(
            Redirect::to("/me?saved=prefs").into_response(),
            [ui_cookie(lang, theme)],
        ),
        Err(e) => internal_page(viewer.layout(None), &e),
    }
}

#[derive(Debug, Deserialize)]
struct ThemeForm {
    theme: String,
}

/// The top bar's toggle: JS posts it in the background and has already
/// switched; without JS the form posts and comes back.
async fn save_theme(
    State(st): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(f): Form<ThemeForm>,
) -> Response {
    let Some(theme) = Theme::parse(&f.theme) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    let lang = viewer.user.language.clone();
    if let Err(e) = st
        .store
        .set_preferences(
            &viewer.user.id,
            lang.as_deref(),
            theme.as_str(),
            &viewer.user.time_zone,
        )
        .await
    {
        return internal_page(viewer.layout(None), &e);
    }
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.find("://")
                .and_then(|i| r[i + 3..].find('/').map(|j| r[i + 3 + j..].to_string()))
        })
        .unwrap_or_else(|| "/".to_string());
    with_cookies(
        Redirect::to(safe_next(&back)).into_response(),
        [ui_cookie(viewer.lang, theme)],
    )
}

async fn password_form(viewer: Viewer) -> Response {
    let mut page = ChangePasswordPage::new(viewer.layout(None));
    page.password_min = crm_domain::password::MIN_CHARS;
    page.into_response()
}

#[derive(Debug, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

async fn password(
    State(st): State<AppState>,
    viewer: Viewer,
    RequestOrigin(origin): RequestOrigin,
    Form(f): Form<PasswordForm>,
) -> Response {
    let mut page = ChangePasswordPage::new(viewer.layout(None));
    page.password_min = crm_domain::password::MIN_CHARS;
    if f.password == f.current_password && !f.password.is_empty() {
        page.errors
            .add("password", FieldError::PasswordSameAsCurrent);
        return page.into_response();
    }
    match change_password(
        &st,
        &viewer.user.id,
        &f.current_password,
        &f.password,
        &f.password_confirm,
        &viewer.signed.cookie,
        &origin,
    )
    .await
    {
        Ok(session) => with_cookies(
            Redirect::to("/me?saved=password").into_response(),
            [session_cookie(&st, &session.cookie)],
        ),
        Err(PasswordError::Mismatch) => {
            page.errors
                .add("password_confirm", FieldError::PasswordMismatch);
            page.into_response()
        }
        Err(PasswordError::WrongCurrent) => {
            page.errors
                .add("current_password", FieldError::WrongCurrentPassword);
            page.into_response()
        }
        Err(PasswordError::Weak(w)) => {
            page.errors.add("password", weak(&w));
            page.into_response()
        }
        Err(e) => internal_page(page.layout, &e),
    }
}
