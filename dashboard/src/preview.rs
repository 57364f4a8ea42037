//! Every page with made-up data, at `/preview/{page}?lang=tr|en&theme=light|dark|system`.
//! Used by the screenshot and smoke tests; it touches no store.

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::i18n::{Lang, Theme};
use crate::pages::*;

/// The pages `/preview/{page}` knows.
pub const PREVIEW_PAGES: [&str; 16] = [
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
        _ => ErrorPage {
            layout,
            kind: ErrorKind::NotFound,
        }
        .into_response(),
    }
}
