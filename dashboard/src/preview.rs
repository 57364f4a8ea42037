//! Every page with made-up data, at `/preview/{page}?lang=tr|en&theme=light|dark|system`.
//! Used by the screenshot and smoke tests; it touches no store.

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::i18n::{Lang, Theme};
use crate::pages::admin::*;
use crate::pages::*;
use crm_domain::access::{Grants, seeded};
use crm_domain::audit::AuditAction;
use crm_domain::auth::TokenScope;

/// The pages `/preview/{page}` knows.
pub const PREVIEW_PAGES: [&str; 21] = [
    "login",
    "login-failed",
    "login-throttled",
    "setup",
    "setup-errors",
    "reset",
    "reset-expired",
    "change-password",
    "home",
    "search",
    "search-empty",
    "search-start",
    "preferences",
    "error-403",
    "error-404",
    "error-500",
    "roles",
    "roles-admin",
    "teams",
    "audit",
    "tokens",
];

#[derive(Debug, Deserialize)]
struct PreviewQuery {
    lang: Option<String>,
    theme: Option<String>,
}

/// Serves the previews (not the assets: merge [`crate::assets::router`] too).
pub fn preview_router() -> Router {
    Router::new()
        .route("/preview", get(index))
        .route("/preview/{page}", get(page))
}

async fn index() -> Html<String> {
    let mut out = String::from(
        "<!doctype html><meta charset=utf-8><title>Previews</title><ul style=\"font:14px system-ui\">",
    );
    for p in PREVIEW_PAGES {
        for lang in ["tr", "en"] {
            out.push_str(&format!(
                "<li><a href=\"/preview/{p}?lang={lang}\">{p} ({lang})</a> \
                 <a href=\"/preview/{p}?lang={lang}&theme=dark\">dark</a></li>"
            ));
        }
    }
    out.push_str("</ul>");
    Html(out)
}

fn sample_user() -> ShellUser {
    ShellUser::new("Ayşe Yılmaz", "ayse.yilmaz@example.com.tr")
}

fn shell(layout: Layout, active: Option<Module>) -> Layout {
    layout.signed_in(sample_user(), Module::nav(&Module::ALL, active))
}

fn rows() -> Vec<CustomerRow> {
    let data = [
        (
            "Mehmet Öztürk",
            "+90 532 *** ** 67",
            "mehmet.ozturk@example.com",
            "Teklif verildi",
        ),
        (
            "Şule Çağlar",
            "+90 505 *** ** 12",
            "sule@caglar-insaat.com.tr",
            "İlk görüşme",
        ),
        (
            "İsmail Güneş",
            "+90 542 *** ** 90",
            "ismail.gunes@example.org",
            "Yeni",
        ),
        (
            "Gökçe Işık",
            "+90 533 *** ** 41",
            "gokce.isik@example.com",
            "Kazanıldı",
        ),
        (
            "Emre Demirtaş",
            "+44 7700 *** 123",
            "emre.d@example.co.uk",
            "Takipte",
        ),
    ];
    data.iter()
        .enumerate()
        .map(|(i, (name, phone, email, stage))| CustomerRow {
            id: format!("01JB{i:02}XYZ"),
            name: (*name).to_owned(),
            phone_masked: (*phone).to_owned(),
            email: (*email).to_owned(),
            stage: (*stage).to_owned(),
        })
        .collect()
}

/// The seeded roles and a custom one; `open` is unfolded.
fn sample_roles(lang: Lang, open: &str) -> Vec<RoleCard> {
    let names_tr = ["Yönetici", "Müdür", "Satış", "Operasyon"];
    let mut cards: Vec<RoleCard> = seeded::roles()
        .into_iter()
        .enumerate()
        .map(|(i, (id, en, grants))| RoleCard {
            id: id.to_string(),
            name: match lang {
                Lang::Tr => names_tr[i].to_string(),
                Lang::En => en.to_string(),
            },
            builtin: true,
            users: [2, 3, 14, 6][i],
            locked: seeded::is_admin(&id),
            open: id == open,
            grants,
            errors: FieldErrors::new(),
        })
        .collect();
    let mut field = Grants::default();
    if let Some(sales) = cards.get(2) {
        field = sales.grants.clone();
        field.unassigned_pool = true;
    }
    cards.push(RoleCard {
        id: "role_01jbfield".into(),
        name: "Saha ekibi".into(),
        builtin: false,
        users: 0,
        locked: false,
        open: open == "role_01jbfield",
        grants: field,
        errors: FieldErrors::new(),
    });
    cards
}

fn sample_people() -> Vec<Person> {
    [
        ("u1", "Ayşe Yılmaz"),
        ("u2", "Mehmet Öztürk"),
        ("u3", "Şule Çağlar"),
        ("u4", "İsmail Güneş"),
        ("u5", "Gökçe Işık"),
        ("u6", "Emre Demirtaş"),
    ]
    .iter()
    .map(|(id, name)| Person::new(*id, *name, true))
    .collect()
}

fn sample_teams() -> Vec<TeamCard> {
    let p = sample_people();
    let gone = Person::new("u9", "Burak Kaya", false);
    vec![
        TeamCard::new(
            "t1",
            "İstanbul Satış",
            Some(p[0].clone()),
            vec![p[0].clone(), p[1].clone(), p[2].clone(), gone],
        ),
        TeamCard::new(
            "t2",
            "Saha & Kurulum",
            Some(p[3].clone()),
            vec![p[3].clone(), p[4].clone()],
        ),
        TeamCard::new("t3", "Destek", None, vec![]),
    ]
}

fn sample_audit(tr: crate::i18n::Tr) -> Vec<AuditRow> {
    let lang = tr.lang();
    let named = |key: &str, name: &str| tr.t_args(key, &[("name", name)]);
    let tz = "Europe/Istanbul";
    let base = 1_796_295_900_000_i64;
    let who = |r: &str, l: &str| Subject {
        reference: r.into(),
        label: l.into(),
    };
    let data: [(i64, AuditAction, Subject, Option<Subject>, &str); 7] = [
        (
            0,
            AuditAction::RoleUpdated,
            who("user:u1", "Ayşe Yılmaz"),
            Some(who("role:sales", &named("audit-subject-role", "Satış"))),
            "85.105.12.7",
        ),
        (
            -4,
            AuditAction::TokenCreated,
            who("user:u2", "Mehmet Öztürk"),
            Some(who(
                "token:k1",
                &named("audit-subject-token", "Web sitesi formu"),
            )),
            "85.105.12.9",
        ),
        (
            -19,
            AuditAction::SignInFailed,
            who("anonymous", &tr.t("audit-subject-anonymous")),
            None,
            "203.0.113.44",
        ),
        (
            -62,
            AuditAction::TeamCreated,
            who("user:u1", "Ayşe Yılmaz"),
            Some(who(
                "team:t2",
                &named("audit-subject-team", "Saha & Kurulum"),
            )),
            "85.105.12.7",
        ),
        (
            -130,
            AuditAction::UserOffboarded,
            who("user:u1", "Ayşe Yılmaz"),
            Some(who("user:u9", "Burak Kaya")),
            "85.105.12.7",
        ),
        (
            -300,
            AuditAction::SignIn,
            who("user:u3", "Şule Çağlar"),
            Some(who("user:u3", "Şule Çağlar")),
            "176.88.4.120",
        ),
        (
            -1440,
            AuditAction::SetupCompleted,
            who("user:u1", "Ayşe Yılmaz"),
            None,
            "",
        ),
    ];
    data.into_iter()
        .map(|(min, action, actor, target, ip)| AuditRow {
            at: Stamp::new(base + min * 60_000, tz, lang),
            action,
            actor,
            target,
            ip: ip.into(),
        })
        .collect()
}

fn sample_tokens(lang: Lang) -> Vec<TokenRow> {
    let tz = "Europe/Istanbul";
    let base = 1_796_295_900_000_i64;
    vec![
        TokenRow {
            id: "k3".into(),
            name: "Web sitesi iletişim formu".into(),
            scope: TokenScope::Intake,
            created: Stamp::new(base, tz, lang),
            revoked: None,
        },
        TokenRow {
            id: "k2".into(),
            name: "Grafana".into(),
            scope: TokenScope::Metrics,
            created: Stamp::new(base - 86_400_000 * 12, tz, lang),
            revoked: None,
        },
        TokenRow {
            id: "k1".into(),
            name: "Eski içe aktarma betiği".into(),
            scope: TokenScope::Full,
            created: Stamp::new(base - 86_400_000 * 90, tz, lang),
            revoked: Some(Stamp::new(base - 86_400_000 * 30, tz, lang)),
        },
    ]
}

async fn page(Path(name): Path<String>, Query(q): Query<PreviewQuery>) -> Response {
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or_default();
    let theme = q
        .theme
        .as_deref()
        .and_then(Theme::parse)
        .unwrap_or(Theme::Light);
    let layout = Layout::new(lang, theme, "preview-csrf-token");
    let tr = layout.tr;
    match name.as_str() {
        "login" => LoginPage::new(layout).into_response(),
        "login-failed" => LoginPage {
            email: "ayse.yilmaz@example.com.tr".into(),
            error: Some(LoginError::BadCredentials),
            ..LoginPage::new(layout)
        }
        .into_response(),
        "login-throttled" => LoginPage {
            email: "ayse.yilmaz@example.com.tr".into(),
            error: Some(LoginError::Throttled { wait_secs: 300 }),
            ..LoginPage::new(layout)
        }
        .into_response(),
        "setup" => SetupPage::new(layout).into_response(),
        "setup-errors" => {
            let mut errors = FieldErrors::new();
            errors.add("code", FieldError::InvalidSetupCode);
            errors.add("email", FieldError::InvalidEmail);
            errors.add("password", FieldError::PasswordTooShort { min: 12 });
            SetupPage {
                code: "KX7-22Q".into(),
                name: "Ayşe Yılmaz".into(),
                email: "ayse@".into(),
                errors,
                ..SetupPage::new(layout)
            }
            .into_response()
        }
        "reset" => ResetPage::new(layout, "one-time-token").into_response(),
        "reset-expired" => ResetPage {
            expired: true,
            ..ResetPage::new(layout, "one-time-token")
        }
        .into_response(),
        "change-password" => {
            let mut errors = FieldErrors::new();
            errors.add("current_password", FieldError::WrongCurrentPassword);
            errors.add("password_confirm", FieldError::PasswordMismatch);
            ChangePasswordPage {
                errors,
                ..ChangePasswordPage::new(shell(layout, None))
            }
            .into_response()
        }
        "home" => HomePage {
            layout: shell(layout, Some(Module::Home)),
        }
        .into_response(),
        "search" => SearchPage {
            layout: shell(layout, Some(Module::Customers)).with_query("0532"),
            results: rows(),
            total: 5,
        }
        .into_response(),
        "search-empty" => SearchPage {
            layout: shell(layout, Some(Module::Customers)).with_query("Ayşe Kaya"),
            results: Vec::new(),
            total: 0,
        }
        .into_response(),
        "search-start" => SearchPage {
            layout: shell(layout, Some(Module::Customers)),
            results: Vec::new(),
            total: 0,
        }
        .into_response(),
        "preferences" => PreferencesPage::new(
            shell(layout, None).with_toast(ToastKind::Success, tr.t("toast-prefs-saved")),
            "Europe/Istanbul",
        )
        .into_response(),
        "error-403" => ErrorPage {
            layout: shell(layout, None),
            kind: ErrorKind::Forbidden,
        }
        .into_response(),
        "error-404" => ErrorPage {
            layout,
            kind: ErrorKind::NotFound,
        }
        .into_response(),
        "error-500" => ErrorPage {
            layout: shell(layout, None),
            kind: ErrorKind::Internal,
        }
        .into_response(),
        "roles" => RolesPage::new(
            shell(layout, Some(Module::Roles))
                .with_toast(ToastKind::Success, tr.t("toast-role-saved")),
            sample_roles(lang, "sales"),
        )
        .into_response(),
        "roles-admin" => RolesPage::new(
            shell(layout, Some(Module::Roles)),
            sample_roles(lang, "admin"),
        )
        .into_response(),
        "teams" => {
            let mut page = TeamsPage::new(
                shell(layout, Some(Module::Teams)),
                sample_teams(),
                sample_people(),
            );
            page.can_edit = true;
            page.into_response()
        }
        "audit" => {
            let mut page = AuditPage::new(shell(layout, Some(Module::Audit)), "Europe/Istanbul");
            page.rows = sample_audit(tr);
            page.older_href = Some(audit_href("", "", Some("1796209500000.01JB")));
            page.into_response()
        }
        "tokens" => {
            let mut page = TokensPage::new(shell(layout, None), sample_tokens(lang));
            page.created = Some(NewToken {
                name: "Web sitesi iletişim formu".into(),
                secret: "crm_live_7Qm2vX9kLp4RtZ8wN3bY6cH1dJ5fG0sA".into(),
                scope: TokenScope::Intake,
            });
            page.into_response()
        }
        _ => ErrorPage {
            layout,
            kind: ErrorKind::NotFound,
        }
        .into_response(),
    }
}
