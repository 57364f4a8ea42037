//! The dashboard as people use it, in headless Chromium against the real
//! `crm serve`: first-run setup with the printed code, signing in, a sales
//! user's navigation without the admin modules, language and theme kept
//! across sign-out, and offboarding that hands a leaver's customers to a
//! colleague, who then sees them in their list. Skips without chromedriver
//! unless CRM_REQUIRE_SERVICES=1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../dashboard/tests/common/browser.rs"]
#[allow(dead_code, reason = "the preview tests use the rest of the harness")]
mod browser;
mod common;

use std::time::{Duration, Instant};

use common::{Api, Crm, embedded_env, temp_dir};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

const ADMIN_PASSWORD: &str = "mavi kapı yedi pencere";
const SALES_TEMP: &str = "geçici parola 2026";
const SALES_OWN: &str = "kendi parolam burada 9";
const BURAK_PASSWORD: &str = "deniz kenarında 42 ev";

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{e}: {script}"))
}

async fn fill(c: &Client, css: &str, text: &str) {
    let el = c
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

async fn submit(c: &Client, form: &str) {
    c.find(Locator::Css(&format!("{form} button[type=submit]")))
        .await
        .unwrap_or_else(|e| panic!("{form}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the page's path is `path` (after a redirect chain).
async fn wait_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = js(c, "return location.pathname").await;
        if now == path {
            return;
        }
        assert!(Instant::now() < deadline, "still on {now}, expected {path}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `script` returns true in the page.
async fn wait_until(c: &Client, script: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while js(c, script).await != Value::Bool(true) {
        assert!(Instant::now() < deadline, "never true: {script}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sign_in(c: &Client, base: &str, email: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    fill(c, "#f-email", email).await;
    fill(c, "#f-password", password).await;
    submit(c, "form[action='/login']").await;
}

async fn sign_out(c: &Client) {
    // The menu's sign-out is a POST form with the session's CSRF token.
    js(
        c,
        "document.querySelector(\"form[action='/logout']\").submit(); return 1",
    )
    .await;
    wait_path(c, "/login").await;
}

async fn nav_links(c: &Client) -> Vec<String> {
    let v = js(
        c,
        "return [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))",
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

async fn listed_customers(c: &Client, base: &str) -> Vec<String> {
    c.goto(&format!("{base}/customers")).await.unwrap();
    let v = js(
        c,
        "return [...document.querySelectorAll('#customers tbody tr')].map(r => r.dataset.id)",
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn first_run_sign_in_preferences_navigation_and_offboarding() {
    let Some(driver) = browser::Driver::start() else {
        return;
    };
    let dir = temp_dir("dashboard");
    let env = embedded_env(&dir);
    let logs = temp_dir("dashboard-logs");
    let (crm, log) = Crm::start_logged("serve", &env, &logs);
    let base = crm.base.clone();
    let printed = std::fs::read_to_string(&log).unwrap();
    assert!(
        printed.contains(&format!("dashboard: {base}/")),
        "{printed}"
    );
    let code = printed
        .lines()
        .skip_while(|l| !l.contains("setup code"))
        .map(str::trim)
        .find(|l| l.len() == 16 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no setup code in {printed}"))
        .to_string();

    // Intake brings two customers; a service token stands in for a form.
    let token = Crm::token(&env);
    let api = Api::new(&base, &token);
    for (n, ext) in [("Zeynep Kaya", "web-1"), ("Deniz Aydın", "web-2")] {
        let (code, r) = api
            .post_json("/intake/leads", &json!({"name": n, "phone": format!("0532 111 22 3{}", &ext[4..]) , "external_id": ext}))
            .await;
        assert!(code == 202 || code == 200, "{code} {r}");
    }
    let customers = api
        .wait_for("/api/v1/customers", 20, |v| {
            v["items"].as_array().unwrap().len() == 2
        })
        .await;
    let ids: Vec<String> = customers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();

    let admin = driver.browser(browser::LAPTOP).await;
    let a = admin.client.clone();
    // A newcomer opening the dashboard lands on first-run setup.
    a.goto(&format!("{base}/")).await.unwrap();
    wait_path(&a, "/setup").await;
    fill(&a, "#f-code", "wrong").await;
    fill(&a, "#f-name", "Ayşe Yılmaz").await;
    fill(&a, "#f-email", "ayse@example.com").await;
    fill(&a, "#f-password", ADMIN_PASSWORD).await;
    fill(&a, "#f-password_confirm", ADMIN_PASSWORD).await;
    submit(&a, "form[action='/setup']").await;
    a.wait()
        .for_element(Locator::Css("#f-code-error"))
        .await
        .unwrap();
    assert_eq!(
        js(&a, "return document.querySelector('#f-email').value").await,
        "ayse@example.com",
        "input kept"
    );
    fill(&a, "#f-code", &code).await;
    fill(&a, "#f-password", ADMIN_PASSWORD).await;
    fill(&a, "#f-password_confirm", ADMIN_PASSWORD).await;
    submit(&a, "form[action='/setup']").await;
    wait_path(&a, "/").await;
    let links = nav_links(&a).await;
    for admin_only in ["/admin/users", "/admin/roles", "/admin/audit"] {
        assert!(
            links.iter().any(|l| l == admin_only),
            "admin sees {admin_only}: {links:?}"
        );
    }
    // Setup is over: the page now sends people to sign in.
    let again = reqwest::get(format!("{base}/setup")).await.unwrap();
    assert!(again.url().path() == "/login", "{}", again.url());

    // The admin adds a sales user with a temporary password.
    a.goto(&format!("{base}/admin/users")).await.unwrap();
    fill(&a, "#new-user #f-name", "Selin Satış").await;
    fill(&a, "#new-user #f-email", "selin@example.com").await;
    fill(&a, "#new-user #f-password", SALES_TEMP).await;
    submit(&a, "#new-user").await;
    a.wait()
        .for_element(Locator::Css("tr[data-email='selin@example.com']"))
        .await
        .unwrap();
    let (code, _, err) = Crm::cli(
        &env,
        &[
            "user",
            "create",
            "burak@example.com",
            "--role",
            "sales",
            "--name",
            "Burak Demir",
        ],
        Some(BURAK_PASSWORD),
    );
    assert_eq!(code, 0, "{err}");
    let (_, users) = api.get("/api/v1/users").await;
    let id_of = |email: &str| {
        users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == email)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (selin, burak) = (id_of("selin@example.com"), id_of("burak@example.com"));
    for id in &ids {
        let r = api
            .http
            .patch(format!("{base}/api/v1/customers/{id}"))
            .bearer_auth(&token)
            .json(&json!({"owner_id": selin}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    // The sales user signs in (on a phone), must choose a password first,
    // and sees neither the admin modules nor anyone else's customers.
    let sales = driver.browser(browser::PHONE).await;
    let s = sales.client.clone();
    sign_in(&s, &base, "selin@example.com", SALES_TEMP).await;
    wait_path(&s, "/me/password").await;
    fill(&s, "#f-current_password", SALES_TEMP).await;
    fill(&s, "#f-password", SALES_OWN).await;
    fill(&s, "#f-password_confirm", SALES_OWN).await;
    submit(&s, "form[action='/me/password']").await;
    wait_path(&s, "/me").await;
    let links = nav_links(&s).await;
    assert!(links.iter().any(|l| l == "/customers"), "{links:?}");
    for admin_only in [
        "/admin/users",
        "/admin/roles",
        "/admin/teams",
        "/admin/audit",
    ] {
        assert!(
            !links.iter().any(|l| l == admin_only),
            "sales must not see {admin_only}: {links:?}"
        );
    }
    let mut mine = listed_customers(&s, &base).await;
    mine.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(mine, expected);
    // The server refuses what the navigation hides.
    s.goto(&format!("{base}/admin/users")).await.unwrap();
    assert_eq!(
        js(&s, "return document.querySelector('h1').innerText")
            .await
            .as_str()
            .map(|t| !t.is_empty()),
        Some(true)
    );
    assert_eq!(
        nav_links(&s)
            .await
            .iter()
            .filter(|l| l.starts_with("/admin"))
            .count(),
        0
    );

    // Language and theme: chosen once, kept across signing out and in.
    s.goto(&format!("{base}/me")).await.unwrap();
    js(&s, "document.querySelector('#f-lang').value = 'en'; document.querySelector(\"input[name=theme][value=dark]\").checked = true; return 1").await;
    submit(&s, "form[action='/me/preferences']").await;
    // The form posts from /me back to /me: wait for the answer's page, not the path.
    wait_until(
        &s,
        "return location.search.includes('saved=prefs') && document.readyState === 'complete'",
    )
    .await;
    assert_eq!(
        js(
            &s,
            "return [document.documentElement.lang, document.documentElement.dataset.theme]"
        )
        .await,
        json!(["en", "dark"])
    );
    sign_out(&s).await;
    assert_eq!(
        js(
            &s,
            "return [document.documentElement.lang, document.documentElement.dataset.theme]"
        )
        .await,
        json!(["en", "dark"]),
        "the sign-in page keeps the look"
    );
    sign_in(&s, &base, "selin@example.com", SALES_OWN).await;
    wait_path(&s, "/").await;
    assert_eq!(
        js(
            &s,
            "return [document.documentElement.lang, document.documentElement.dataset.theme]"
        )
        .await,
        json!(["en", "dark"])
    );

    // Offboarding: the admin hands Selin's work to Burak in one action.
    a.goto(&format!("{base}/admin/users")).await.unwrap();
    js(
        &a,
        &format!("document.querySelector('#to-{selin}').value = '{burak}'; return 1"),
    )
    .await;
    submit(&a, &format!("form[action='/admin/users/{selin}/offboard']")).await;
    let summary = a
        .wait()
        .for_element(Locator::Css("#handover-summary"))
        .await
        .unwrap();
    let text = summary.text().await.unwrap();
    assert!(text.contains('2'), "{text}");
    // `CRM_SCREENSHOTS=docs/screenshots` keeps pictures of the real pages.
    if let Ok(folder) = std::env::var("CRM_SCREENSHOTS") {
        for (page, url) in [("users", "/admin/users"), ("customers", "/customers")] {
            a.goto(&format!("{base}{url}")).await.unwrap();
            for theme in ["light", "dark"] {
                js(
                    &a,
                    &format!("document.documentElement.dataset.theme = '{theme}'; return 1"),
                )
                .await;
                for (size, name) in [(browser::LAPTOP, "laptop"), (browser::PHONE, "phone")] {
                    let path =
                        std::path::Path::new(&folder).join(format!("{page}-{theme}-{name}.png"));
                    admin.screenshot(&path, size).await;
                }
            }
            admin.resize(browser::LAPTOP).await;
        }
        a.goto(&format!("{base}/admin/users")).await.unwrap();
    }
    // Selin's session ended with it.
    s.goto(&format!("{base}/customers")).await.unwrap();
    wait_path(&s, "/login").await;
    sign_in(&s, &base, "burak@example.com", BURAK_PASSWORD).await;
    wait_path(&s, "/").await;
    let mut handed = listed_customers(&s, &base).await;
    handed.sort();
    assert_eq!(handed, expected, "Burak now holds Selin's customers");
    let (_, timeline) = api
        .get(&format!("/api/v1/customers/{}/timeline", ids[0]))
        .await;
    assert!(
        timeline
            .to_string()
            .contains("Handed over from Selin Satış to Burak Demir by Ayşe Yılmaz"),
        "{timeline}"
    );

    admin.close().await;
    sales.close().await;
    drop(crm);
}
