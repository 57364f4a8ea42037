//! Browser tests of the preview pages: labels, theme and language on <html>,
//! no sideways overflow at phone width, text contrast, keyboard shortcut.
//! Skips without chromedriver unless CRM_REQUIRE_SERVICES=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use common::browser::{self, Driver, LAPTOP, PHONE};
use fantoccini::{Client, Locator};
use serde_json::Value;

async fn app() -> String {
    // /echo answers with the CSRF header it got, to check crm.fetch.
    let echo = axum::routing::post(|h: axum::http::HeaderMap| async move {
        h.get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    });
    let router = crm_dashboard::preview_router()
        .merge(crm_dashboard::assets::router())
        .route("/echo", echo);
    browser::serve(router).await
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}: {script}"))
}

/// Lowest contrast ratio among text elements against their painted background.
const CONTRAST_JS: &str = r#"
function rgba(s) {
  const m = s.match(/rgba?\(([^)]+)\)/);
  if (!m) return null;
  const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
  return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
}
function lum(c) {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
}
function bg(el) {
  for (; el; el = el.parentElement) {
    const c = rgba(getComputedStyle(el).backgroundColor);
    if (c && c.a > 0.5) return c;
  }
  return { r: 255, g: 255, b: 255, a: 1 };
}
function ratio(el) {
  const fg = rgba(getComputedStyle(el).color), b = bg(el);
  const l1 = lum(fg), l2 = lum(b);
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
}
const out = [];
const els = [document.body, ...document.querySelectorAll(
  "h1, p, label, legend, a, button, th, td, .badge, .field-hint, .auth-lead, .page-lead, .empty-hint")];
for (const el of els) {
  const r = el.getBoundingClientRect();
  if (!r.width || !r.height || getComputedStyle(el).visibility === "hidden") continue;
  if (el.disabled) continue;
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  out.push([ratio(el), (el.className || el.tagName) + ": " + el.textContent.trim().slice(0, 30)]);
}
out.sort((a, b) => a[0] - b[0]);
return out.slice(0, 3);
"#;

/// Form controls without a label (a <label for>, a wrapping label or aria-label).
const UNLABELLED_JS: &str = r#"
return [...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
  .map(e => e.name || e.id);
"#;

const OVERFLOW_JS: &str = r#"
const d = document.documentElement;
const wide = [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > innerWidth + 0.5 && getComputedStyle(e).position !== "fixed")
  .slice(0, 3).map(e => e.tagName + "." + e.className);
return [d.scrollWidth, innerWidth, wide];
"#;

fn driver() -> Option<Driver> {
    Driver::start()
}

#[tokio::test]
async fn login_in_both_languages_and_themes() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    browser::run(&driver, LAPTOP, move |c| async move {
        for lang in ["tr", "en"] {
            for theme in ["light", "dark"] {
                c.goto(&format!("{base}/preview/login?lang={lang}&theme={theme}"))
                    .await
                    .unwrap();
                let seen = js(
                    &c,
                    "return [document.documentElement.dataset.theme, document.documentElement.lang, document.documentElement.dataset.js]",
                )
                .await;
                assert_eq!(seen[0], theme, "{lang}/{theme}");
                assert_eq!(seen[1], lang);
                assert_eq!(seen[2], "ready", "app.js ran");
                let unlabelled = js(&c, UNLABELLED_JS).await;
                assert_eq!(unlabelled, Value::Array(vec![]), "{lang}/{theme}");
                for name in ["email", "password"] {
                    c.find(Locator::Css(&format!("form[action='/login'] input[name={name}]")))
                        .await
                        .unwrap();
                }
                c.find(Locator::Css("form[action='/login'] input[type=hidden][name=csrf]"))
                    .await
                    .unwrap();
                let label = js(&c, "return document.querySelector('label[for=f-email]').innerText").await;
                assert_eq!(label, if lang == "tr" { "E-posta" } else { "E-mail" });
                let worst = js(&c, CONTRAST_JS).await;
                let ratio = worst[0][0].as_f64().unwrap();
                assert!(ratio >= 4.5, "{lang}/{theme}: lowest contrast {worst}");
                // body text on the page background, named in the brief
                let body = js(&c, &CONTRAST_JS.replace("const out = [];", "return ratio(document.body);")).await;
                assert!(body.as_f64().unwrap() >= 4.5, "{lang}/{theme}: body {body}");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn every_page_keeps_aa_contrast_on_a_laptop() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    browser::run(&driver, LAPTOP, move |c| async move {
        for page in crm_dashboard::PREVIEW_PAGES {
            for theme in ["light", "dark"] {
                c.goto(&format!("{base}/preview/{page}?lang=en&theme={theme}"))
                    .await
                    .unwrap();
                let worst = js(&c, CONTRAST_JS).await;
                let ratio = worst[0][0].as_f64().unwrap();
                assert!(ratio >= 4.5, "{page}/{theme}: {worst}");
                // placeholders count as text people must read
                let ph = js(
                    &c,
                    &CONTRAST_JS.replace(
                        "const out = [];",
                        "const q = document.getElementById('global-search'); if (!q) return 99; \
                     const fg = rgba(getComputedStyle(q, '::placeholder').color), b = bg(q); \
                     const l1 = lum(fg), l2 = lum(b); \
                     return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);",
                    ),
                )
                .await;
                assert!(
                    ph.as_f64().unwrap() >= 4.5,
                    "{page}/{theme}: placeholder {ph}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn system_theme_follows_the_media_query() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    browser::run(&driver, LAPTOP, move |c| async move {
        c.goto(&format!("{base}/preview/home?theme=system")).await.unwrap();
        let r = js(
            &c,
            "return [crm.theme.get(), crm.theme.effective() === (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'), getComputedStyle(document.documentElement).colorScheme]",
        )
        .await;
        assert_eq!(r[0], "system");
        assert_eq!(r[1], true);
        // the toggle switches at once (saving fails here: the preview has no /me/theme)
        let before = js(&c, "return crm.theme.effective()").await;
        c.find(Locator::Css("[data-theme-toggle] button")).await.unwrap().click().await.unwrap();
        let after = js(&c, "return [crm.theme.effective(), document.documentElement.dataset.theme]").await;
        assert_ne!(after[0], before);
        assert_eq!(after[0], after[1]);
    })
    .await;
}

#[tokio::test]
async fn phone_width_never_overflows_and_the_nav_opens() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    browser::run(&driver, PHONE, move |c| async move {
        for page in crm_dashboard::PREVIEW_PAGES {
            for theme in ["light", "dark"] {
                c.goto(&format!("{base}/preview/{page}?lang=tr&theme={theme}"))
                    .await
                    .unwrap();
                let r = js(&c, OVERFLOW_JS).await;
                assert!(
                    r[0].as_f64().unwrap() <= r[1].as_f64().unwrap(),
                    "{page}/{theme} overflows at 390 px: {r}"
                );
                let worst = js(&c, CONTRAST_JS).await;
                if let Some(w) = worst.get(0) {
                    assert!(w[0].as_f64().unwrap() >= 4.5, "{page}/{theme}: {worst}");
                }
                assert_eq!(js(&c, UNLABELLED_JS).await, Value::Array(vec![]), "{page}");
            }
        }
        c.goto(&format!("{base}/preview/home?lang=en"))
            .await
            .unwrap();
        let nav_visible =
            "return getComputedStyle(document.getElementById('sidenav')).display !== 'none'";
        assert_eq!(js(&c, nav_visible).await, false, "drawer closed at first");
        c.find(Locator::Css(".nav-toggle"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        assert_eq!(js(&c, nav_visible).await, true, "drawer opens");
        let text = js(&c, "return document.getElementById('sidenav').innerText").await;
        assert!(text.as_str().unwrap().contains("Customers"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn slash_focuses_search_and_relative_times_use_the_page_language() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    browser::run(&driver, LAPTOP, move |c| async move {
        c.goto(&format!("{base}/preview/home?lang=tr"))
            .await
            .unwrap();
        c.find(Locator::Css("main")).await.unwrap();
        c.active_element()
            .await
            .unwrap()
            .send_keys("/")
            .await
            .unwrap();
        let focused = js(&c, "return document.activeElement.id").await;
        assert_eq!(focused, "global-search");
        let value = js(&c, "return document.activeElement.value").await;
        assert_eq!(value, "", "the slash is not typed into the box");
        let text = js(
            &c,
            "const t = document.createElement('time');
             t.dateTime = new Date(Date.now() - 5 * 60000).toISOString();
             t.dataset.relative = ''; t.textContent = 'abs';
             document.body.appendChild(t); crm.refreshRelative();
             return [t.textContent, t.title]",
        )
        .await;
        assert_eq!(text[0], "5 dakika önce");
        assert_eq!(text[1], "abs");
        let header = js(
            &c,
            "const r = await crm.fetch('/echo', {method: 'POST'}); return await r.text()",
        )
        .await;
        assert_eq!(header, "preview-csrf-token");
    })
    .await;
}

/// Writes docs/screenshots/{page}-{light|dark}-{laptop|phone}.png.
#[tokio::test]
#[ignore = "writes screenshots; run with --ignored"]
async fn screenshots() {
    let Some(driver) = driver() else { return };
    let base = app().await;
    let dir = std::env::var_os("CRM_SCREENSHOT_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots"),
        PathBuf::from,
    );
    let lang = std::env::var("CRM_SCREENSHOT_LANG").unwrap_or_else(|_| "tr".into());
    let pages: Vec<String> = std::env::var("CRM_SCREENSHOT_PAGES")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| {
            [
                "login",
                "setup",
                "home",
                "search",
                "preferences",
                "roles",
                "teams",
                "audit",
                "tokens",
            ]
            .map(str::to_owned)
            .to_vec()
        });
    for (device, size) in [("laptop", LAPTOP), ("phone", PHONE)] {
        let b = driver.browser(size).await;
        for page in &pages {
            for theme in ["light", "dark"] {
                b.goto(&format!("{base}/preview/{page}?lang={lang}&theme={theme}"))
                    .await;
                b.screenshot(&dir.join(format!("{page}-{theme}-{device}.png")), size)
                    .await;
            }
        }
        // The shell with its menu open: the user menu on a laptop, the drawer on a phone.
        let (opener, shot) = if device == "laptop" {
            (".user-button", "shell-menu")
        } else {
            (".nav-toggle", "shell-nav")
        };
        for theme in ["light", "dark"] {
            b.goto(&format!("{base}/preview/home?lang={lang}&theme={theme}"))
                .await;
            let el = b.client.find(Locator::Css(opener)).await.unwrap();
            el.click().await.unwrap();
            b.screenshot(&dir.join(format!("{shot}-{theme}-{device}.png")), size)
                .await;
        }
        b.close().await;
    }
}
