//! The HTTP/1.1 server loop. Our own rather than `axum::serve`, which sets
//! no timer: hyper's header-read timeout never fires there, so a client that
//! sends half a request line (slowloris) or opens a connection and stays
//! silent holds it forever.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time to send a request's headers. hyper starts this clock when it
    /// begins waiting for the next request, so it also closes idle
    /// keep-alive connections.
    pub header_read: Duration,
    /// How long in-flight requests may finish after shutdown begins.
    pub drain: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            drain: Duration::from_secs(30),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting, lets in-flight requests finish (up to `limits.drain`) and
/// returns. WebSocket upgrades are supported; the peer address is available
/// to handlers as `ConnectInfo<SocketAddr>`.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let open = Arc::new(OpenConnections::default());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let mut stop = stop_rx.clone();
        let guard = open.enter();
        tokio::spawn(async move {
            let _guard = guard;
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                crate::middleware::drop_unusable_request_id(&mut req);
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            let stopping = async move {
                // The guard `wait_for` returns must not live across an await.
                let _ = stop.wait_for(|s| *s).await.map(|_| ());
            };
            tokio::select! {
                res = conn.as_mut() => log_connection_end(res, peer),
                _ = stopping => {
                    conn.as_mut().graceful_shutdown();
                    log_connection_end(conn.await, peer);
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    if tokio::time::timeout(limits.drain, open.idle())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain period; closing them");
    }
    Ok(())
}

fn log_connection_end(res: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = res {
        // Timeouts and resets are the client's business; keep them quiet.
        tracing::debug!(error = %e, %peer, "connection ended");
    }
}

/// Counts live connections so shutdown can wait for them.
#[derive(Default)]
struct OpenConnections {
    count: std::sync::atomic::AtomicUsize,
    closed: Notify,
}

struct ConnectionGuard(Arc<OpenConnections>);

impl OpenConnections {
    fn enter(self: &Arc<Self>) -> ConnectionGuard {
        self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ConnectionGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.closed.notified();
            if self.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}
