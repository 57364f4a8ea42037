//! `crm simulate`: a local stand-in for Meta, for demos and load. It serves
//! the Graph API calls the workers make (`GET /{version}/{leadgen_id}`,
//! `GET /{version}/{form_id}/leads`) and posts correctly signed webhooks —
//! WhatsApp messages and statuses, Messenger, Instagram, Lead Ads — at a
//! target, at a given rate, with a configurable duplicate rate and batch size.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::extract::Path;
use axum::routing::get;
use crm_connectors::signature::sign_meta_body;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Where to post webhooks (the `crm` server).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Webhook POSTs per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// How many distinct events to send (0 = only serve the Graph stand-in).
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Share of POSTs sent twice (Meta's at-least-once delivery), 0..1.
    #[arg(long, default_value_t = 0.0)]
    pub duplicate_rate: f64,
    /// Events per POST (entries in one webhook body).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Kinds to mix: whatsapp, status, messenger, instagram, leadgen.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "whatsapp,status,messenger,instagram,leadgen"
    )]
    pub kinds: Vec<String>,
    /// Serve the Graph API stand-in here (point CRM_GRAPH_BASE_URL at it).
    #[arg(long)]
    pub graph_bind: Option<String>,
    /// App secret to sign with; defaults to CRM_META_APP_SECRET.
    #[arg(long)]
    pub app_secret: Option<String>,
    /// Keep serving the Graph stand-in after sending, until Ctrl-C.
    #[arg(long)]
    pub hold: bool,
    /// Keep serving the Graph stand-in this many seconds after sending (lets
    /// workers fetch the leads just announced).
    #[arg(long, default_value_t = 0)]
    pub linger: u64,
    /// Distinguishes runs so ids never collide with an earlier run's.
    #[arg(long)]
    pub run_id: Option<String>,
    /// Concurrent requests in flight.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

/// Digits only, derived from the run id, so ids stay numeric like Meta's.
fn run_number(run_id: &str) -> u64 {
    run_id
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 9_000
        + 1_000
}

/// One Meta object worth of changes for item `i`: (object, entry).
pub fn entry_for(kind: &str, run: u64, i: u64) -> (&'static str, Value) {
    let ts = crm_domain::util::now_ms() / 1000;
    let phone = format!("90532{:07}", (run * 1_000_003 + i) % 10_000_000);
    match kind {
        "status" => (
            "whatsapp_business_account",
            json!({"id": "730194857362910", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "908501112233", "phone_number_id": "418273645501234"},
                "statuses": [{"id": format!("wamid.SIMOUT{run}x{i}"), "status": "delivered", "timestamp": ts.to_string(),
                              "recipient_id": phone}]}}]}),
        ),
        "messenger" => (
            "page",
            json!({"id": "104938271650432", "time": ts * 1000, "messaging": [{
                "sender": {"id": format!("72819{run}{i:08}")}, "recipient": {"id": "104938271650432"},
                "timestamp": ts * 1000, "message": {"mid": format!("m_SIM{run}x{i}"), "text": "Do you deliver to Izmir?"}}]}),
        ),
        "instagram" => (
            "instagram",
            json!({"id": "17841400000000000", "time": ts * 1000, "messaging": [{
                "sender": {"id": format!("53119{run}{i:08}")}, "recipient": {"id": "17841400000000000"},
                "timestamp": ts * 1000, "message": {"mid": format!("ig_SIM{run}x{i}"), "text": "Fiyat nedir?"}}]}),
        ),
        "leadgen" => (
            "page",
            json!({"id": "104938271650432", "time": ts, "changes": [{"field": "leadgen", "value": {
                "leadgen_id": leadgen_id(run, i), "page_id": 104938271650432u64, "form_id": "892736451028374",
                "ad_id": "120212345678900123", "created_time": ts}}]}),
        ),
        _ => (
            "whatsapp_business_account",
            json!({"id": "730194857362910", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "908501112233", "phone_number_id": "418273645501234"},
                "contacts": [{"profile": {"name": format!("Sim Customer {i}")}, "wa_id": phone}],
                "messages": [{"from": phone, "id": format!("wamid.SIM{run}x{i}"), "timestamp": ts.to_string(),
                              "type": "text", "text": {"body": "Merhaba, fiyat alabilir miyim?"}}]}}]}),
        ),
    }
}

/// A leadgen id (numeric like Meta's, 16 digits) for item `i` of run `run`.
pub fn leadgen_id(run: u64, i: u64) -> u64 {
    1_100_000_000_000_000 + run * 10_000_000 + i
}

/// The lead the Graph stand-in returns for a leadgen id: contact data derived
/// from the id so repeated fetches agree.
pub fn lead_json(leadgen_id: &str) -> Value {
    let n: u64 = leadgen_id
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u64, |h, b| {
            h.wrapping_mul(10).wrapping_add(u64::from(b - b'0'))
        });
    let phone = format!("+90533{:07}", n % 10_000_000);
    json!({
        "id": leadgen_id,
        "created_time": chrono_like_now(),
        "ad_id": "120212345678900123", "ad_name": "Spring ad",
        "adset_id": "120212345678900456", "adset_name": "Istanbul 25-45",
        "campaign_id": "120219876543210001", "campaign_name": "Spring leads",
        "form_id": "892736451028374",
        "field_data": [
            {"name": "full_name", "values": [format!("Lead {}", n % 100_000)]},
            {"name": "phone_number", "values": [phone]},
            {"name": "email", "values": [format!("lead{}@example.com", n % 1_000_000)]},
            {"name": "preferred_branch", "values": ["Kadikoy"]}
        ],
        "custom_disclaimer_responses": [{"checkbox_key": "optional_1", "is_checked": "1"}]
    })
}

fn chrono_like_now() -> String {
    // Meta's `+0000` form, which RFC 3339 parsers reject.
    let secs = crm_domain::util::now_ms() / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+0000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The Graph API stand-in's routes.
pub fn graph_router() -> axum::Router {
    axum::Router::new()
        .route(
            "/{version}/{id}",
            get(|Path((_v, id)): Path<(String, String)>| async move { Json(lead_json(&id)) }),
        )
        .route(
            "/{version}/{form}/leads",
            get(|Path((_v, _form)): Path<(String, String)>| async move {
                Json(json!({"data": [], "paging": {"cursors": {}}}))
            }),
        )
}

pub async fn serve_graph(bind: &str) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, graph_router()).await;
    });
    Ok(addr)
}

/// Builds the signed webhook bodies for `count` events of the given kinds,
/// `batch` entries per body (one object per body, as Meta sends).
pub fn build_bodies(kinds: &[String], count: u64, batch: usize, run: u64) -> Vec<Vec<u8>> {
    let mut by_object: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    let mut bodies = Vec::new();
    let batch = batch.max(1);
    for i in 0..count {
        let kind = kinds
            .get(usize::try_from(i).unwrap_or(0) % kinds.len().max(1))
            .map(String::as_str)
            .unwrap_or("whatsapp");
        let (object, entry) = entry_for(kind, run, i);
        let entries = by_object.entry(object).or_default();
        entries.push(entry);
        if entries.len() >= batch {
            let taken = std::mem::take(entries);
            bodies.push(
                json!({"object": object, "entry": taken})
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    for (object, entries) in by_object {
        if !entries.is_empty() {
            bodies.push(
                json!({"object": object, "entry": entries})
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    bodies
}

#[derive(Debug, Default)]
pub struct SendReport {
    pub posts: u64,
    pub duplicates: u64,
    pub by_status: BTreeMap<u16, u64>,
    pub errors: u64,
    pub latencies_ms: Vec<f64>,
    pub elapsed: Duration,
}

/// Posts each body (some twice) at `rate` per second, signed with `secret`.
pub async fn send_bodies(
    target: &str,
    secret: &str,
    bodies: Vec<Vec<u8>>,
    rate: f64,
    duplicate_rate: f64,
    concurrency: usize,
) -> anyhow::Result<SendReport> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url = format!("{}/webhooks/meta", target.trim_end_matches('/'));
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let interval = if rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::ZERO
    };
    let dup_every = if duplicate_rate > 0.0 {
        (1.0 / duplicate_rate).round().max(1.0) as u64
    } else {
        0
    };
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    let mut plan = Vec::new();
    for (i, b) in bodies.into_iter().enumerate() {
        let i = i as u64;
        if dup_every > 0 && i.is_multiple_of(dup_every) {
            plan.push((b.clone(), true));
        }
        plan.push((b, false));
    }
    for (n, (body, dup)) in plan.into_iter().enumerate() {
        if !interval.is_zero() {
            let due = started + interval.mul_f64(n as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = sem.clone().acquire_owned().await?;
        let client = client.clone();
        let url = url.clone();
        let sig = sign_meta_body(secret.as_bytes(), &body);
        let counter = counter.clone();
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await;
            drop(permit);
            counter.fetch_add(1, Ordering::Relaxed);
            (
                res.map(|r| r.status().as_u16()),
                t.elapsed().as_secs_f64() * 1000.0,
                dup,
            )
        }));
    }
    let mut report = SendReport::default();
    for h in handles {
        let (status, ms, dup) = h.await?;
        report.posts += 1;
        if dup {
            report.duplicates += 1;
        }
        match status {
            Ok(code) => *report.by_status.entry(code).or_default() += 1,
            Err(_) => report.errors += 1,
        }
        report.latencies_ms.push(ms);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0.0)
}

/// `crm simulate`; `app_secret` is the configured `CRM_META_APP_SECRET`,
/// used when `--app-secret` is not given.
pub async fn run(args: SimulateArgs, app_secret: Option<&str>) -> anyhow::Result<()> {
    if let Some(bind) = &args.graph_bind {
        let addr = serve_graph(bind).await?;
        eprintln!("Graph API stand-in on http://{addr} (set CRM_GRAPH_BASE_URL=http://{addr})");
    }
    if args.count > 0 {
        let secret = args
            .app_secret
            .clone()
            .or_else(|| app_secret.map(str::to_string))
            .context("no app secret: pass --app-secret or set CRM_META_APP_SECRET")?;
        let run_id = args.run_id.clone().unwrap_or_else(crm_domain::util::new_id);
        let run = run_number(&run_id);
        let bodies = build_bodies(&args.kinds, args.count, args.batch, run);
        let n_bodies = bodies.len();
        let report = send_bodies(
            &args.target,
            &secret,
            bodies,
            args.rate,
            args.duplicate_rate,
            args.concurrency,
        )
        .await?;
        let mut lat = report.latencies_ms.clone();
        lat.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{}",
            json!({
                "run": run, "events": args.count, "bodies": n_bodies, "posts": report.posts,
                "duplicate_posts": report.duplicates, "by_status": report.by_status, "transport_errors": report.errors,
                "elapsed_s": report.elapsed.as_secs_f64(),
                "latency_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99)}
            })
        );
    }
    if args.linger > 0 {
        tokio::time::sleep(Duration::from_secs(args.linger)).await;
    }
    if args.hold {
        eprintln!("holding; Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn bodies_group_by_object_and_batch() {
        let kinds = vec!["whatsapp".to_string(), "messenger".to_string()];
        let bodies = build_bodies(&kinds, 10, 3, 1234);
        let total: usize = bodies
            .iter()
            .map(|b| {
                serde_json::from_slice::<Value>(b)
                    .ok()
                    .and_then(|v| v["entry"].as_array().map(Vec::len))
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(total, 10);
        assert!(bodies.len() >= 4);
    }
}
