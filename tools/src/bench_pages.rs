//! The dashboard's figures: a signed-in page's render time, the
//! permission-filtered customer list over a large book, and what signing in
//! costs, each beside a bare answer of the same server in the same run.
//! Requests go one at a time, so a latency is the server's time plus one
//! loopback round trip (the bare answer shows what that trip costs).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::Launcher;
use crate::simulate::percentile;

const OWNERS: u64 = 20;

/// Request headers of one measurement.
type Headers = Vec<(&'static str, String)>;

/// `n` sequential GETs of `url` after a warm-up; latencies in ms, sorted.
async fn sample(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&str, String)],
    n: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let mut req = http.get(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let t = Instant::now();
        let res = req.send().await?;
        let status = res.status();
        res.bytes().await?;
        if !status.is_success() {
            anyhow::bail!("{url} answered {status}");
        }
        if i >= n / 10 {
            out.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn figures(name: &str, lat: &[f64], bare_p95: Option<f64>) -> Value {
    let p95 = percentile(lat, 0.95);
    json!({
        "phase": "pages",
        "what": name,
        "requests": lat.len(),
        "p50_ms": (percentile(lat, 0.5) * 100.0).round() / 100.0,
        "p95_ms": (p95 * 100.0).round() / 100.0,
        "p95_over_bare": bare_p95.map(|b| (p95 / b * 100.0).round() / 100.0),
    })
}

/// Signs in through the form as a browser would; returns the session cookie
/// and how long the POST took.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<(String, f64)> {
    let page = http.get(format!("{base}/login")).send().await?;
    let form_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("crm_form=")
                .and_then(|c| c.split(';').next())
                .map(str::to_string)
        })
        .ok_or_else(|| anyhow::anyhow!("the sign-in page set no form cookie"))?;
    let t = Instant::now();
    let res = http
        .post(format!("{base}/login"))
        .header("cookie", format!("crm_form={form_cookie}"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("csrf", form_cookie.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/"),
        ]))
        .send()
        .await?;
    let took = t.elapsed().as_secs_f64() * 1000.0;
    let session = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("crm_session=")
                .and_then(|c| c.split(';').next())
                .map(str::to_string)
        })
        .ok_or_else(|| anyhow::anyhow!("sign-in of {email} failed: {}", res.status()))?;
    Ok((session, took))
}

fn form_body(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Puts `n` customers in the embedded database at `url`, one in
/// [`OWNERS`] owned by `owner`, the rest spread over other user ids.
async fn seed(url: &str, n: u64, owner: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    let now = crm_domain::util::now_ms();
    let mut i = 0u64;
    while i < n {
        let mut tx = conn.begin().await?;
        let chunk = (n - i).min(500);
        let mut sql = String::from(
            "INSERT INTO customers (id, name, phone, owner_id, created_at, updated_at) VALUES ",
        );
        for j in 0..chunk {
            if j > 0 {
                sql.push(',');
            }
            let k = i + j;
            let holder = if k.is_multiple_of(OWNERS) {
                owner.to_string()
            } else {
                format!("other_{}", k % OWNERS)
            };
            sql.push_str(&format!(
                "('{}', 'Müşteri {k}', '90532{:07}', '{holder}', {}, {})",
                crm_domain::util::new_id(),
                k % 10_000_000,
                now - i64::try_from(k).unwrap_or(0),
                now
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        i += chunk;
    }
    Ok(())
}

pub async fn run(
    exe: &Path,
    dir: &Path,
    customers: u64,
    requests: usize,
) -> anyhow::Result<Vec<Value>> {
    let data = dir.join("pages");
    let env = [("CRM_DATA_DIR".to_string(), data.display().to_string())];
    let cli = Launcher::new(exe)
        .envs(env.iter().cloned())
        .env("CRM_LOG", "warn");
    let admin_pw = "kırmızı balon uçuyor 1";
    let sales_pw = "mavi deniz dalgası 22";
    for (email, role, pw) in [
        ("yonetici@bench.example", "admin", admin_pw),
        ("temsilci@bench.example", "sales", sales_pw),
    ] {
        let out = cli.run(&["user", "create", email, "--role", role], Some(pw))?;
        anyhow::ensure!(out.code == Some(0), "user create {email}: {}", out.stderr);
    }
    let sales_token = cli
        .run(
            &[
                "token",
                "create",
                "bench",
                "--user",
                "temsilci@bench.example",
            ],
            None,
        )?
        .stdout
        .trim()
        .to_string();
    let admin_token = cli
        .run(&["token", "create", "bench"], None)?
        .stdout
        .trim()
        .to_string();
    let db_url = format!("sqlite://{}/crm.db", data.display());
    let sales_id = {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::SqliteConnection::connect(&db_url).await?;
        let row = sqlx::query("SELECT id FROM users WHERE email = 'temsilci@bench.example'")
            .fetch_one(&mut conn)
            .await?;
        row.try_get::<String, _>("id")?
    };
    let t = Instant::now();
    seed(&db_url, customers, &sales_id).await?;
    eprintln!(
        "bench pages: {customers} customers seeded in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let mut api = Launcher::new(exe)
        .envs(env.iter().cloned())
        .env("CRM_LOG", "warn")
        .spawn(&["api"])?;
    let api = tokio::task::spawn_blocking(move || {
        api.wait_healthy(Duration::from_secs(60)).map(|()| api)
    })
    .await??;
    let base = api.base().to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let mut out = Vec::new();
    // Argon2 alone, in this process, with the product's parameters.
    let mut argon = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        tokio::task::spawn_blocking(|| crm_domain::auth::hash_password("a bench passphrase here"))
            .await??;
        argon.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    argon.sort_by(f64::total_cmp);
    let mut logins = Vec::new();
    let mut session = String::new();
    for _ in 0..5 {
        let (s, took) = sign_in(&http, &base, "yonetici@bench.example", admin_pw).await?;
        session = s;
        logins.push(took);
    }
    logins.sort_by(f64::total_cmp);
    let argon_p50 = percentile(&argon, 0.5);
    out.push(json!({
        "phase": "pages", "what": "sign-in",
        "argon2_hash_p50_ms": (argon_p50 * 100.0).round() / 100.0,
        "sign_in_post_p50_ms": (percentile(&logins, 0.5) * 100.0).round() / 100.0,
        "sign_in_over_argon2": (percentile(&logins, 0.5) / argon_p50 * 100.0).round() / 100.0,
    }));
    let cookie = vec![("cookie", format!("crm_session={session}"))];
    let bearer = |t: &str| vec![("authorization", format!("Bearer {t}"))];
    let bare = sample(&http, &format!("{base}/healthz"), &[], requests).await?;
    let bare_p95 = percentile(&bare, 0.95);
    out.push(figures(
        "baseline: bare /healthz of the same server",
        &bare,
        None,
    ));
    let rows: [(&str, String, Headers); 5] = [
        ("anonymous page /login", format!("{base}/login"), vec![]),
        (
            "signed-in page / (home)",
            format!("{base}/"),
            cookie.clone(),
        ),
        (
            "signed-in page /customers (admin, all scope, 50 rows)",
            format!("{base}/customers"),
            cookie.clone(),
        ),
        (
            "GET /api/v1/customers?limit=50, sales (own scope, filtered in SQL)",
            format!("{base}/api/v1/customers?limit=50"),
            bearer(&sales_token),
        ),
        (
            "GET /api/v1/customers?limit=50, service token (all)",
            format!("{base}/api/v1/customers?limit=50"),
            bearer(&admin_token),
        ),
    ];
    for (name, url, headers) in rows {
        let lat = sample(&http, &url, &headers, requests).await?;
        out.push(figures(name, &lat, Some(bare_p95)));
    }
    drop(api);
    Ok(out)
}
