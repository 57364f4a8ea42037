//! Starting each role: open what it needs (failing fast with the URL named,
//! password masked), run, and stop cleanly on SIGTERM / Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use crm_api::{AppState, IntakeWriter, Services};
use crm_connectors::graph::{GraphClient, GraphConfig};
use crm_domain::util::{error_chain, mask_url};
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_scheduler::Scheduler;
use crm_store::Store;
use crm_workers::WorkerCtx;
use tokio::sync::watch;

pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(&config.database_url).await.with_context(|| {
        format!(
            "CRM_DATABASE_URL {} unusable",
            mask_url(&config.database_url)
        )
    })
}

/// What every long-running role opens first: the migrated database and the queue.
async fn open_migrated(config: &Config) -> anyhow::Result<(Store, JobQueue)> {
    tokio::task::spawn_blocking(crm_domain::phone::warm_up).await?;
    let store = open_store(config).await?;
    store.migrate().await.context("migrations failed")?;
    let queue = open_queue(config).await?;
    Ok((store, queue))
}

async fn open_queue(config: &Config) -> anyhow::Result<JobQueue> {
    JobQueue::connect(&config.queue)
        .await
        .context("CRM_QUEUE_URL unusable")
}

async fn open_bus(config: &Config, consume: bool) -> anyhow::Result<EventBus> {
    EventBus::connect(config.bus_url.as_deref(), consume)
        .await
        .context("CRM_BUS_URL unusable")
}

fn graph_client(config: &Config) -> anyhow::Result<Option<GraphClient>> {
    let Some(token) = &config.meta_access_token else {
        return Ok(None);
    };
    let cfg = GraphConfig {
        base_url: config.graph_base_url.clone(),
        version: config.graph_version.clone(),
        access_token: token.expose().to_string(),
        app_secret: config
            .meta_app_secret
            .as_ref()
            .map(|s| s.expose().to_string()),
        ..GraphConfig::default()
    };
    Ok(Some(GraphClient::new(cfg).context("Graph API client")?))
}

/// A receiver that flips to true on SIGTERM or Ctrl-C.
fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = ctrl_c.await;
                        let _ = tx.send(true);
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
        let _ = tx.send(true);
    });
    rx
}

async fn wait_for(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            break;
        }
    }
}

async fn serve_http(
    (state, writer): (AppState, tokio::task::JoinHandle<()>),
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let bind = state.config.bind.clone();
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on CRM_BIND {bind}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "listening");
    eprintln!("crm listening on http://{addr}");
    let url = match &state.config.public_url {
        Some(u) => u.clone(),
        None => format!("http://{addr}").replace("0.0.0.0", "127.0.0.1"),
    };
    eprintln!("dashboard: {url}/");
    match state.store.issue_setup_code().await {
        Ok(Some(code)) => eprintln!(
            "\nNo users yet. Open {url}/setup and create the first admin with the setup code\n\n    {code}\n\n(or from a terminal: `echo 'a long passphrase' | crm user create you@example.com --role admin`)\n"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %error_chain(&e), "setup code not issued"),
    }
    let limits = crm_api::ServerLimits {
        header_read: Duration::from_millis(state.config.http_header_timeout_ms),
        ..crm_api::ServerLimits::default()
    };
    let request_timeout = Duration::from_millis(state.config.http_request_timeout_ms);
    let pages = crm_dashboard::router(&state);
    crm_api::serve(
        listener,
        crm_api::router_with(state, request_timeout, pages),
        limits,
        wait_for(shutdown),
    )
    .await
    .context("http server")?;
    // The router (and its writer handles) is gone: the writer flushes its
    // last jobs and stops.
    if tokio::time::timeout(std::time::Duration::from_secs(30), writer)
        .await
        .is_err()
    {
        tracing::warn!("intake writer did not finish; the sweeper will push what it left");
    }
    Ok(())
}

fn api_state(
    store: Store,
    queue: JobQueue,
    bus: EventBus,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
) -> (AppState, tokio::task::JoinHandle<()>) {
    let (writer, task) = IntakeWriter::spawn(
        store.clone(),
        queue.clone(),
        config.sweep_grace_ms,
        metrics.clone(),
    );
    let state = AppState::new(Services {
        store,
        queue,
        bus,
        config,
        metrics,
        writer,
        holders: Default::default(),
    });
    (state, task)
}

/// Embedded mode: everything in one process on one SQLite file.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (store, queue) = open_migrated(&config).await?;
    let bus = open_bus(&config, true).await?;
    let metrics = Arc::new(Metrics::default());
    let shutdown = shutdown_signal();
    let worker_ctx = Arc::new(WorkerCtx {
        store: store.clone(),
        applier: crm_workers::EventApplier::spawn(store.clone()),
        bus: bus.clone(),
        graph: graph_client(&config)?,
        config: config.clone(),
        metrics: metrics.clone(),
    });
    let workers = tokio::spawn(crm_workers::run_workers(
        worker_ctx,
        queue.clone(),
        config.worker_concurrency,
        wait_for(shutdown.clone()),
    ));
    let scheduler = Scheduler::new(store.clone(), queue.clone(), config.clone());
    let sched = tokio::spawn(scheduler.run(wait_for(shutdown.clone())));
    let state = api_state(store.clone(), queue, bus.clone(), config, metrics);
    let http = serve_http(state, shutdown.clone()).await;
    // HTTP has drained; let workers finish or hand back in-flight jobs.
    match workers.await {
        Ok(Err(e)) => tracing::warn!(error = %error_chain(&e), "workers stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "workers task failed"),
        Ok(Ok(())) => {}
    }
    let _ = sched.await;
    flush_bus(&bus).await;
    store.close().await;
    http
}

/// Events of the last moments still waiting for the broker go out before
/// the process does (bounded: a broker that is away is not waited for).
async fn flush_bus(bus: &EventBus) {
    let left = bus.flush(Duration::from_secs(5)).await;
    if left > 0 {
        tracing::warn!(
            events = left,
            "event bus unreachable at shutdown; live events lost"
        );
    }
}

pub async fn api(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (store, queue) = open_migrated(&config).await?;
    let bus = open_bus(&config, true).await?;
    let metrics = Arc::new(Metrics::default());
    let shutdown = shutdown_signal();
    let state = api_state(store.clone(), queue, bus.clone(), config, metrics);
    let res = serve_http(state, shutdown).await;
    flush_bus(&bus).await;
    store.close().await;
    res
}

pub async fn worker(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (store, queue) = open_migrated(&config).await?;
    let bus = open_bus(&config, false).await?;
    let shutdown = shutdown_signal();
    let ctx = Arc::new(WorkerCtx {
        store: store.clone(),
        applier: crm_workers::EventApplier::spawn(store.clone()),
        bus: bus.clone(),
        graph: graph_client(&config)?,
        config: config.clone(),
        metrics: Arc::new(Metrics::default()),
    });
    eprintln!("crm worker running (queue {:?})", queue);
    crm_workers::run_workers(ctx, queue, config.worker_concurrency, wait_for(shutdown))
        .await
        .context("workers")?;
    flush_bus(&bus).await;
    store.close().await;
    Ok(())
}

pub async fn scheduler(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (store, queue) = open_migrated(&config).await?;
    let shutdown = shutdown_signal();
    eprintln!("crm scheduler running");
    Scheduler::new(store.clone(), queue, config)
        .run(wait_for(shutdown))
        .await?;
    store.close().await;
    Ok(())
}
