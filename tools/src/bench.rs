//! `crm bench`: a benchmark program (never a timed test). Every figure is
//! printed beside a baseline measured in the same run with the same load
//! generator:
//!
//! - intake: signed webhooks into a real `crm` process vs. a bare axum
//!   handler, and vs. raw single-row inserts into the same store (SQLite WAL;
//!   PostgreSQL when reachable), at the same concurrency;
//! - drain: events/s fully processed by workers from a backlog;
//! - end to end: webhook sent → change published after commit (the moment a
//!   customer is visible in the API), at a fixed rate.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::process::{Launcher, Log, Process};
use crate::simulate::{entry_for, percentile};

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Requests per intake measurement.
    #[arg(long, default_value_t = 20_000)]
    pub requests: u64,
    /// Concurrent requests in flight (the same for every contender).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Backlog size for the drain measurement.
    #[arg(long, default_value_t = 20_000)]
    pub drain_events: u64,
    /// Rate (events/s) and duration (s) of the end-to-end measurement.
    #[arg(long, default_value_t = 1000.0)]
    pub e2e_rate: f64,
    #[arg(long, default_value_t = 10)]
    pub e2e_seconds: u64,
    /// Also measure scale-out (PostgreSQL + Redis + RabbitMQ) when these are set.
    #[arg(long, env = "CRM_BENCH_PG_URL")]
    pub pg_url: Option<String>,
    #[arg(long, env = "CRM_BENCH_REDIS_URL")]
    pub redis_url: Option<String>,
    #[arg(long, env = "CRM_BENCH_AMQP_URL")]
    pub amqp_url: Option<String>,
    /// Times each measurement is repeated (contenders take turns); medians
    /// are reported, so a slow spell of the machine does not decide a ratio.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Run only these phases (default: all; scale-out needs the three URLs).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Phase>,
    /// Another `crm` build whose `crm api` joins the embedded intake rounds as
    /// one more contender: an A/B of a change in one run, turn by turn.
    #[arg(long)]
    pub compare_with: Option<std::path::PathBuf>,
    /// Load generator of the intake rounds: `wrk` (a C generator; `auto`
    /// picks it when it is installed) or `own` (this process, which tops
    /// out below what a bare server answers on a small machine).
    #[arg(long, value_enum, default_value_t = Generator::Auto)]
    pub generator: Generator,
    /// Customers in the book the pages phase lists from.
    #[arg(long, default_value_t = 100_000)]
    pub page_customers: u64,
    /// Sequential requests per page measurement.
    #[arg(long, default_value_t = 500)]
    pub page_requests: usize,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    Auto,
    Wrk,
    Own,
}

impl Generator {
    fn use_wrk(self) -> bool {
        match self {
            Generator::Auto => crate::bench_wrk::available(),
            Generator::Wrk => true,
            Generator::Own => false,
        }
    }
}

/// One round of intake load with the chosen generator.
async fn load_with(
    wrk: bool,
    url: &str,
    bodies: Bodies,
    concurrency: usize,
    sign: bool,
) -> anyhow::Result<Load> {
    if !wrk {
        return load(url, bodies, concurrency, sign).await;
    }
    let url = url.to_string();
    tokio::task::spawn_blocking(move || crate::bench_wrk::load(&url, &bodies, concurrency, sign))
        .await?
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Webhooks into `crm serve` while its workers drain.
    Intake,
    /// A backlog stored by `crm api` alone, then drained by `crm worker`.
    Drain,
    /// Latency from webhook to published change at a fixed rate.
    E2e,
    /// The same on PostgreSQL + Redis + RabbitMQ.
    ScaleOut,
    /// Dashboard pages, the scope-filtered customer list, sign-in.
    Pages,
}

pub(crate) const SECRET: &str = "bench_secret";

/// How long a started process may take to answer `/healthz`.
const HEALTHY_WITHIN: Duration = Duration::from_secs(30);

fn spawn(exe: &Path, role: &str, env: &[(String, String)]) -> anyhow::Result<Process> {
    spawn_exe(exe, &[role], env)
}

/// `exe` with `args` on a free port; its log goes to a file named after the
/// first argument, beside the bench data (kept on failure).
fn spawn_exe(exe: &Path, args: &[&str], env: &[(String, String)]) -> anyhow::Result<Process> {
    let process = Launcher::new(exe)
        .envs(env.iter().cloned())
        .env(
            "CRM_LOG",
            std::env::var("CRM_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env("CRM_META_APP_SECRET", SECRET)
        .log(Log::Dir(std::env::temp_dir().join("crm-bench-logs")))
        .spawn(args)?;
    Ok(process)
}

/// `p` once it answers `/healthz`; the polling blocks, so it runs off the
/// runtime's worker threads.
async fn healthy(mut p: Process) -> anyhow::Result<Process> {
    tokio::task::spawn_blocking(move || p.wait_healthy(HEALTHY_WITHIN).map(|()| p))
        .await?
        .map_err(Into::into)
}

pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) ok: u64,
}

/// Closed-loop load: `concurrency` requests in flight until `bodies` are
/// sent. Each body is built as it is sent, so its event timestamps are the
/// send time, as Meta's are.
async fn load(url: &str, bodies: Bodies, concurrency: usize, sign: bool) -> anyhow::Result<Load> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let started = Instant::now();
    let results: Vec<(bool, f64)> = futures::stream::iter(0..bodies.count)
        .map(|i| {
            let http = http.clone();
            let url = url.to_string();
            let body = bodies.body(i);
            async move {
                let t = Instant::now();
                let mut req = http.post(&url).header("content-type", "application/json");
                if sign {
                    req = req.header(
                        "x-hub-signature-256",
                        crm_connectors::signature::sign_meta_body(SECRET.as_bytes(), &body),
                    );
                }
                let ok = req
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                (ok, t.elapsed().as_secs_f64() * 1000.0)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat: Vec<f64> = results.iter().map(|r| r.1).collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let ok = results.iter().filter(|r| r.0).count() as u64;
    Ok(Load {
        rps: results.len() as f64 / elapsed,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        ok,
    })
}

/// What a baseline server does with each request.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineKind {
    /// Reads the body and answers 200: the ceiling for any handler.
    Bare,
    /// One single-row `INSERT` (its own transaction) per request.
    Raw,
}

/// `crm bench-baseline`: a baseline server in a process of its own, so it
/// runs as the contenders do (its own runtime, the same process hops from
/// the load generator), not beside the generator in the bench's runtime.
#[derive(clap::Args, Debug, Clone)]
pub struct BaselineArgs {
    #[arg(value_enum)]
    pub kind: BaselineKind,
    /// The store for `raw` (`sqlite://…` or `postgres://…`).
    #[arg(long)]
    pub db: Option<String>,
}

/// Serves a baseline on `CRM_BIND` until killed.
pub async fn serve_baseline(args: BaselineArgs, bind: &str) -> anyhow::Result<()> {
    let app = match (args.kind, &args.db) {
        (BaselineKind::Bare, _) => bare_axum_router(),
        (BaselineKind::Raw, Some(db)) => raw_insert_router(db).await?,
        (BaselineKind::Raw, None) => bail!("bench-baseline raw needs --db"),
    };
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    eprintln!("crm listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// A baseline in its own process; answers `/healthz` like `crm`.
fn spawn_baseline(exe: &Path, kind: &str, db: Option<&str>) -> anyhow::Result<Process> {
    let mut args = vec!["bench-baseline", kind];
    args.extend(db.iter().flat_map(|db| ["--db", db]));
    spawn_exe(exe, &args, &[])
}

/// Bare axum in the bench's own process (the figure earlier sessions used).
async fn bare_axum_in_process() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = bare_axum_router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/webhooks/meta"))
}

fn bare_axum_router() -> axum::Router {
    axum::Router::new()
        .route(
            "/webhooks/meta",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
}

/// Raw single-row inserts: one INSERT (its own transaction) per request into
/// the same engine the product uses, through the same HTTP load generator.
async fn raw_insert_router(url: &str) -> anyhow::Result<axum::Router> {
    sqlx::any::install_default_drivers();
    let is_sqlite = url.starts_with("sqlite:");
    let opts = sqlx::any::AnyPoolOptions::new().max_connections(if is_sqlite { 1 } else { 24 });
    let opts = if is_sqlite {
        opts.after_connect(|conn, _| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                Ok(())
            })
        })
    } else {
        opts
    };
    let pool = opts
        .connect(url)
        .await
        .with_context(|| format!("raw insert baseline on {}", crm_domain::util::mask_url(url)))?;
    let blob = if is_sqlite { "BLOB" } else { "BYTEA" };
    sqlx::query("DROP TABLE IF EXISTS bench_raw")
        .execute(&pool)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE bench_raw (id TEXT PRIMARY KEY, body {blob} NOT NULL, at BIGINT NOT NULL)"
    )))
    .execute(&pool)
    .await?;
    let pool = Arc::new(pool);
    Ok(axum::Router::new()
        .route(
            "/webhooks/meta",
            post(move |body: axum::body::Bytes| {
                let pool = pool.clone();
                async move {
                    let r = sqlx::query("INSERT INTO bench_raw (id, body, at) VALUES ($1, $2, $3)")
                        .bind(crm_domain::util::new_id())
                        .bind(body.to_vec())
                        .bind(crm_domain::util::now_ms())
                        .execute(&*pool)
                        .await;
                    if r.is_ok() {
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    }
                }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" })))
}

/// `count` WhatsApp message webhooks of run `run`, one per request.
#[derive(Clone, Copy)]
pub(crate) struct Bodies {
    run: u64,
    pub(crate) count: u64,
}

impl Bodies {
    pub(crate) fn body(&self, i: u64) -> Vec<u8> {
        let (object, entry) = entry_for("whatsapp", self.run, i);
        json!({"object": object, "entry": [entry]})
            .to_string()
            .into_bytes()
    }
}

fn wa_bodies(run: u64, count: u64) -> Bodies {
    Bodies { run, count }
}

async fn pending(url: &str) -> anyhow::Result<i64> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM inbound_events WHERE status = 'pending'")
        .fetch_one(&pool)
        .await?;
    let n: i64 = row.try_get("n")?;
    pool.close().await;
    Ok(n)
}

/// Backlog of `n` events stored by an api-only process, then drained by workers.
async fn drain(
    exe: &Path,
    env: &[(String, String)],
    db: &str,
    run: u64,
    n: u64,
    concurrency: usize,
    workers: usize,
) -> anyhow::Result<(f64, Load)> {
    let mut api = healthy(spawn(exe, "api", env)?).await?;
    let base = api.base().to_owned();
    let l = load(
        &format!("{base}/webhooks/meta"),
        wa_bodies(run, n),
        concurrency,
        true,
    )
    .await?;
    api.terminate();
    let backlog = pending(db).await?;
    if backlog < l.ok as i64 {
        bail!("backlog {backlog} smaller than accepted {}", l.ok);
    }
    let started = Instant::now();
    let mut procs = Vec::new();
    for _ in 0..workers {
        procs.push(spawn(exe, "worker", env)?);
    }
    // As in production: the sweeper re-pushes anything whose push was lost.
    procs.push(spawn(exe, "scheduler", env)?);
    loop {
        let left = pending(db).await?;
        if left == 0 {
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!("drain did not finish: {left} left");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((backlog as f64 / started.elapsed().as_secs_f64(), l))
}

/// Fixed-rate webhooks; latency from send to the `message.received` event
/// (published after commit) on the api's stream.
async fn end_to_end(
    base: &str,
    token: &str,
    rate: f64,
    seconds: u64,
) -> anyhow::Result<(f64, f64, u64, u64)> {
    let ws_url = format!(
        "{}/api/v1/events?access_token={token}&kinds=message.received",
        base.replace("http://", "ws://")
    );
    let (ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .context("event stream")?;
    let n = (rate * seconds as f64) as u64;
    let bodies = wa_bodies(4242, n);
    let sent_at: Arc<std::sync::Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let seen = sent_at.clone();
    let reader = tokio::spawn(async move {
        let mut ws = ws;
        let mut lat = Vec::new();
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(15), ws.next()).await
        {
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if let Some(ext) = v["data"]["external_id"].as_str()
                && let Some(t) = seen.lock().ok().and_then(|m| m.get(ext).copied())
            {
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            if lat.len() as u64 >= n {
                break;
            }
        }
        lat
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("{base}/webhooks/meta");
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut handles = Vec::new();
    for i in 0..bodies.count {
        tokio::time::sleep_until((started + interval.mul_f64(i as f64)).into()).await;
        let body = bodies.body(i);
        let v: Value = serde_json::from_slice(&body)?;
        let wamid = v["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Ok(mut m) = sent_at.lock() {
            m.insert(wamid, Instant::now());
        }
        let http = http.clone();
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let sig = crm_connectors::signature::sign_meta_body(SECRET.as_bytes(), &body);
            http.post(&url)
                .header("x-hub-signature-256", sig)
                .body(body)
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
        }));
    }
    let mut ok = 0;
    for h in handles {
        if h.await.unwrap_or(false) {
            ok += 1;
        }
    }
    let mut lat = reader.await?;
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok((
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.len() as u64,
        ok,
    ))
}

/// Mean rows per intake transaction and mean time to commit one, from the
/// process's own `/metrics`.
async fn intake_batches(base: &str, token: &str) -> anyhow::Result<(f64, f64)> {
    let text = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let mean = |name: &str, scale: f64| {
        let count = value(&format!("{name}_count"));
        if count > 0.0 {
            (value(&format!("{name}_sum")) * scale / count * 100.0).round() / 100.0
        } else {
            0.0
        }
    };
    Ok((
        mean("crm_intake_batch_rows", 1.0),
        mean("crm_intake_commit_seconds", 1000.0),
    ))
}

fn token_for(exe: &Path, env: &[(String, String)]) -> anyhow::Result<String> {
    let token = Launcher::new(exe)
        .envs(env.iter().cloned())
        .env("CRM_LOG", "error")
        .create_token("bench")?;
    Ok(token)
}

/// Intake contenders measured turn by turn, `rounds` times each, so a slow
/// spell of the machine hits all of them alike; figures are medians.
struct Contender {
    name: &'static str,
    url: String,
    sign: bool,
    /// A database whose pending events must be drained before the next
    /// contender runs (a `crm serve` keeps working after its load ends).
    settle: Option<String>,
    runs: Vec<Load>,
}

impl Contender {
    fn new(name: &'static str, url: String, sign: bool) -> Self {
        Self {
            name,
            url,
            sign,
            settle: None,
            runs: Vec::new(),
        }
    }

    /// The round with the median throughput.
    fn median(&self) -> Option<&Load> {
        let mut by_rps: Vec<&Load> = self.runs.iter().collect();
        by_rps.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        by_rps.get(by_rps.len() / 2).copied()
    }

    fn report(&self) -> Value {
        let rps: Vec<f64> = self.runs.iter().map(|l| l.rps.round()).collect();
        match self.median() {
            Some(m) => json!({"name": self.name, "requests_per_s": m.rps.round(), "p50_ms": m.p50,
                              "p99_ms": m.p99, "ok": m.ok, "rounds_requests_per_s": rps}),
            None => json!({"name": self.name, "error": "not measured"}),
        }
    }
}

/// Rounds of closed-loop load over every contender in turn.
async fn rounds(
    contenders: &mut [Contender],
    args: &BenchArgs,
    first_run: u64,
) -> anyhow::Result<()> {
    for round in 0..args.rounds {
        for (i, c) in contenders.iter_mut().enumerate() {
            // A distinct run number per measurement: no body is sent twice.
            let run = first_run + u64::from(round) * 10 + i as u64;
            let l = load_with(
                args.generator.use_wrk(),
                &c.url,
                wa_bodies(run, args.requests),
                args.concurrency,
                c.sign,
            )
            .await?;
            eprintln!("bench: round {round} {}: {:.0} req/s", c.name, l.rps);
            c.runs.push(l);
            if let Some(db) = &c.settle {
                let started = Instant::now();
                while pending(db).await? > 0 && started.elapsed() < Duration::from_secs(120) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    Ok(())
}

/// Bare axum driven by this process's generator and by wrk, once each: how
/// much of what the server can answer the bench's own generator reaches.
async fn generator_check(
    bare_url: &str,
    args: &BenchArgs,
    print: impl Fn(Value),
) -> anyhow::Result<()> {
    if !crate::bench_wrk::available() {
        print(json!({"name": "generator check", "error": "wrk is not installed"}));
        return Ok(());
    }
    let own = load(
        bare_url,
        wa_bodies(90, args.requests),
        args.concurrency,
        true,
    )
    .await?;
    let wrk = load_with(
        true,
        bare_url,
        wa_bodies(91, args.requests),
        args.concurrency,
        true,
    )
    .await?;
    print(
        json!({"name": "generator check: bare axum, this process's generator vs wrk",
                 "own_requests_per_s": own.rps.round(), "wrk_requests_per_s": wrk.rps.round(),
                 "ratio": (own.rps / wrk.rps * 1000.0).round() / 1000.0,
                 "rounds_use": if args.generator.use_wrk() { "wrk" } else { "own" }}),
    );
    Ok(())
}

fn ratio(name: &str, a: &Contender, b: &Contender, target: f64) -> Value {
    match (a.median(), b.median()) {
        (Some(x), Some(y)) => {
            let r = (x.rps / y.rps * 1000.0).round() / 1000.0;
            json!({"name": name, "ratio": r, "target": target, "met": r >= target})
        }
        _ => json!({"name": name, "error": "not measured"}),
    }
}

/// Ends a measurement's footprint before the next one: its files are
/// deleted and what the system still had to write is flushed, so one
/// phase's disk writeback does not land in the next phase's latencies.
fn settle(paths: &[std::path::PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_dir_all(p);
        let _ = std::fs::remove_file(p);
    }
    let _ = Command::new("sync").status();
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The whole bench; `exe` is the `crm` it starts (the running binary itself).
pub async fn run(args: BenchArgs, exe: &Path) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("crm-bench-{}", crm_domain::util::new_id()));
    std::fs::create_dir_all(&dir)?;
    let phase = |p: Phase| args.only.is_empty() || args.only.contains(&p);
    let scale_out = match (&args.pg_url, &args.redis_url, &args.amqp_url) {
        (Some(pg), Some(redis), Some(amqp)) if phase(Phase::ScaleOut) => Some((pg, redis, amqp)),
        _ => None,
    };
    eprintln!(
        "bench: {} requests at concurrency {}, {} rounds",
        args.requests, args.concurrency, args.rounds
    );
    // Printed as measured, so a later failure keeps what was already found.
    let print = |v: Value| println!("{v}");

    if phase(Phase::Pages) {
        for v in crate::bench_pages::run(exe, &dir, args.page_customers, args.page_requests).await?
        {
            print(v);
        }
    }

    if phase(Phase::Intake) {
        // Embedded: `crm api` alone, and `crm serve` with its workers
        // draining what it takes in, against bare axum and raw inserts.
        let raw_url = format!("sqlite://{}/raw.db?mode=rwc", dir.display());
        let api_env = vec![(
            "CRM_DATA_DIR".to_string(),
            dir.join("api").display().to_string(),
        )];
        let serve_env = vec![(
            "CRM_DATA_DIR".to_string(),
            dir.join("serve").display().to_string(),
        )];
        // All four start before the first is waited on, as they boot in parallel.
        let api = spawn(exe, "api", &api_env)?;
        let serve = spawn(exe, "serve", &serve_env)?;
        let bare = spawn_baseline(exe, "bare", None)?;
        let raw = spawn_baseline(exe, "raw", Some(&raw_url))?;
        let api = healthy(api).await?;
        let serve = healthy(serve).await?;
        let bare = healthy(bare).await?;
        let raw = healthy(raw).await?;
        let (api_base, serve_base) = (api.base().to_owned(), serve.base().to_owned());
        let (bare_base, raw_base) = (bare.base().to_owned(), raw.base().to_owned());
        let other_env = vec![(
            "CRM_DATA_DIR".to_string(),
            dir.join("other").display().to_string(),
        )];
        let other = match &args.compare_with {
            Some(other_exe) => {
                let p = healthy(spawn_exe(other_exe, &["api"], &other_env)?).await?;
                let base = p.base().to_owned();
                Some((p, base))
            }
            None => None,
        };
        let mut c = vec![
            Contender::new(
                "baseline bare axum",
                format!("{bare_base}/webhooks/meta"),
                true,
            ),
            Contender::new(
                "baseline bare axum in the bench's own process",
                bare_axum_in_process().await?,
                true,
            ),
            Contender::new(
                "baseline raw SQLite WAL single-row inserts",
                format!("{raw_base}/webhooks/meta"),
                false,
            ),
            Contender::new(
                "embedded intake, crm api",
                format!("{api_base}/webhooks/meta"),
                true,
            ),
            Contender {
                settle: Some(format!("sqlite://{}/serve/crm.db", dir.display())),
                ..Contender::new(
                    "embedded intake, crm serve (workers draining)",
                    format!("{serve_base}/webhooks/meta"),
                    true,
                )
            },
        ];
        if let Some((_, base)) = &other {
            c.push(Contender::new(
                "embedded intake, crm api of the --compare-with build",
                format!("{base}/webhooks/meta"),
                true,
            ));
        }
        generator_check(&c[0].url, &args, print).await?;
        rounds(&mut c, &args, 100).await?;
        for (name, base, env) in [
            ("crm api", &api_base, &api_env),
            ("crm serve", &serve_base, &serve_env),
        ] {
            let (rows, commit_ms) = intake_batches(base, &token_for(exe, env)?).await?;
            print(
                json!({"name": format!("{name}: intake batches, mean"), "rows": rows,
                         "commit_ms": commit_ms}),
            );
        }
        for mut p in [api, serve, bare, raw] {
            p.terminate();
        }
        for x in &c {
            print(x.report());
        }
        let [bare, bare_here, raw, api, serve, rest @ ..] = c.as_slice() else {
            bail!("intake contenders missing");
        };
        if let (Some((mut p, _)), [other]) = (other, rest) {
            p.terminate();
            print(ratio(
                "crm api vs the --compare-with build",
                api,
                other,
                1.0,
            ));
        }
        print(ratio("crm api vs bare axum", api, bare, 0.5));
        print(ratio(
            "crm api vs bare axum in the bench's own process",
            api,
            bare_here,
            0.5,
        ));
        print(ratio("crm api vs raw SQLite inserts", api, raw, 0.5));
        print(ratio("crm serve vs bare axum", serve, bare, 0.5));
        print(ratio("crm serve vs raw SQLite inserts", serve, raw, 0.5));
        settle(&[
            dir.join("api"),
            dir.join("serve"),
            dir.join("other"),
            dir.join("raw.db"),
        ]);
    }
    if phase(Phase::Drain) {
        // A backlog stored by `crm api` alone, then drained by a worker.
        let mut rates = Vec::new();
        for round in 0..args.rounds {
            let drain_dir = dir.join(format!("drain-{round}"));
            let env = vec![("CRM_DATA_DIR".to_string(), drain_dir.display().to_string())];
            let db = format!("sqlite://{}/crm.db", drain_dir.display());
            let run = 900 + u64::from(round);
            let (rate, _) =
                drain(exe, &env, &db, run, args.drain_events, args.concurrency, 1).await?;
            eprintln!("bench: round {round} embedded drain: {rate:.0} events/s");
            rates.push(rate.round());
            settle(&[drain_dir]);
        }
        print(
            json!({"name": "embedded drain (1 worker process)", "events_per_s": median_of(rates.clone()),
                     "rounds_events_per_s": rates, "target": 2000}),
        );
    }
    if phase(Phase::E2e) {
        let mut p99s = Vec::new();
        for round in 0..args.rounds {
            let e2e_dir = dir.join(format!("e2e-{round}"));
            let env = vec![("CRM_DATA_DIR".to_string(), e2e_dir.display().to_string())];
            let token = token_for(exe, &env)?;
            let mut serve = healthy(spawn(exe, "serve", &env)?).await?;
            let base = serve.base().to_owned();
            let (p50, p99, seen, ok) =
                end_to_end(&base, &token, args.e2e_rate, args.e2e_seconds).await?;
            serve.terminate();
            eprintln!("bench: round {round} end to end: p50 {p50:.1} ms, p99 {p99:.1} ms");
            print(
                json!({"name": "embedded end-to-end", "round": round, "rate_per_s": args.e2e_rate, "accepted": ok,
                         "observed": seen, "p50_ms": p50, "p99_ms": p99, "target_p99_ms": 100}),
            );
            p99s.push(p99);
            settle(&[e2e_dir]);
        }
        print(
            json!({"name": "embedded end-to-end p99, median of rounds", "p99_ms": median_of(p99s.clone()),
                     "worst_p99_ms": p99s.iter().copied().fold(0.0, f64::max), "target_p99_ms": 100}),
        );
    }

    if let Some((pg, redis, amqp)) = scale_out {
        let env = vec![
            ("CRM_DATABASE_URL".to_string(), pg.clone()),
            ("CRM_QUEUE_URL".to_string(), redis.clone()),
            ("CRM_BUS_URL".to_string(), amqp.clone()),
            (
                "CRM_DATA_DIR".to_string(),
                dir.join("scale").display().to_string(),
            ),
        ];
        let api = spawn(exe, "api", &env)?;
        let bare = spawn_baseline(exe, "bare", None)?;
        let raw = spawn_baseline(exe, "raw", Some(pg))?;
        let api = healthy(api).await?;
        let bare = healthy(bare).await?;
        let raw = healthy(raw).await?;
        let (base, bare_base, raw_base) = (
            api.base().to_owned(),
            bare.base().to_owned(),
            raw.base().to_owned(),
        );
        let mut c = [
            Contender::new(
                "baseline bare axum",
                format!("{bare_base}/webhooks/meta"),
                true,
            ),
            Contender::new(
                "baseline raw PostgreSQL single-row inserts",
                format!("{raw_base}/webhooks/meta"),
                false,
            ),
            Contender::new(
                "scale-out intake, crm api on PostgreSQL + Redis",
                format!("{base}/webhooks/meta"),
                true,
            ),
        ];
        rounds(&mut c, &args, 500).await?;
        for mut p in [api, bare, raw] {
            p.terminate();
        }
        let [bare, raw, api] = &c;
        for x in &c {
            print(x.report());
        }
        print(ratio("scale-out crm api vs bare axum", api, bare, 0.5));
        print(ratio(
            "scale-out crm api vs raw PostgreSQL inserts",
            api,
            raw,
            0.5,
        ));
        let mut rates = Vec::new();
        for round in 0..args.rounds {
            let run = 950 + u64::from(round);
            let (rate, _) =
                drain(exe, &env, pg, run, args.drain_events, args.concurrency, 2).await?;
            eprintln!("bench: round {round} scale-out drain: {rate:.0} events/s");
            rates.push(rate.round());
        }
        print(
            json!({"name": "scale-out drain (2 worker processes)", "events_per_s": median_of(rates.clone()),
                     "rounds_events_per_s": rates, "target": 2000}),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
