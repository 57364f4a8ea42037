//! The whole HTTP surface in-process, on a port the OS picks (no free-port
//! race), over a real SQLite file: limits, timeouts, scopes, request ids and
//! the JSON shape of every error, including the framework's own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{App, HEADER_TIMEOUT, error_code};
use crm_domain::auth::TokenScope;
use serde_json::{Value, json};

/// Writes raw bytes and reads what comes back until the server closes or
/// `wait` passes; returns the text and whether the server closed.
fn raw(addr: SocketAddr, bytes: &[u8], wait: Duration) -> (String, bool) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(bytes).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_security_headers_and_json_errors() {
    let app = App::start().await;
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert!(id.parse::<ulid::Ulid>().is_ok(), "{id}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");

    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "lb-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-7f3a");
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "x".repeat(500))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"].len(),
        26,
        "an overlong id is replaced"
    );

    assert_eq!(
        error_code(app.get("/nope", None).await, 404).await,
        "not_found"
    );
    let r = app
        .http
        .delete(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("allow").is_some());
    assert_eq!(error_code(r, 405).await, "method_not_allowed");

    let admin = app.token(TokenScope::Full, None).await;
    // The framework's own rejections: a bad query value, a missing upgrade.
    let r = app.get("/api/v1/customers?limit=many", Some(&admin)).await;
    assert_eq!(error_code(r, 400).await, "bad_request");
    let r = app.get("/api/v1/events", Some(&admin)).await;
    assert!(r.status().is_client_error());
    let status = r.status().as_u16();
    error_code(r, status).await;
    // A bad cursor is 422 on every list.
    let r = app.get("/api/v1/customers?cursor=zzz", Some(&admin)).await;
    assert_eq!(error_code(r, 422).await, "invalid");
    let r = app
        .get("/api/v1/inbound-events?cursor=zzz", Some(&admin))
        .await;
    assert_eq!(error_code(r, 422).await, "invalid_cursor");

    // Anonymous readiness says what is up, never how it is reached.
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["checks"],
        json!({"database": "ok", "queue": "ok", "bus": "ok"})
    );

    // A server fault is a 500 `internal` that leaks nothing.
    app.store.close().await;
    let r = app.get("/api/v1/pipelines", Some(&admin)).await;
    assert_eq!(r.status(), 500, "a database down is the server's fault");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "internal");
    assert!(!body.to_string().to_lowercase().contains("pool"), "{body}");
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "down", "{body}");
    assert!(!body.to_string().contains(&app.dir.display().to_string()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_scoped_and_only_the_stream_reads_them_from_the_url() {
    let app = App::start().await;
    let admin = app.token(TokenScope::Full, None).await;
    let agent = app.token(TokenScope::Full, Some("sales")).await;
    let intake = app.token(TokenScope::Intake, None).await;
    let metrics = app.token(TokenScope::Metrics, None).await;

    assert_eq!(
        app.get("/api/v1/customers", Some(&admin)).await.status(),
        200
    );
    assert_eq!(
        app.get("/api/v1/customers", Some(&agent)).await.status(),
        200
    );
    let r = app.get("/api/v1/customers", Some(&intake)).await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = app.get("/api/v1/customers", Some(&metrics)).await;
    assert_eq!(error_code(r, 403).await, "forbidden");
    let r = app.get("/api/v1/customers", None).await;
    assert_eq!(error_code(r, 401).await, "unauthorized");

    assert_eq!(app.get("/metrics", Some(&metrics)).await.status(), 200);
    assert_eq!(app.get("/metrics", Some(&admin)).await.status(), 200);
    assert_eq!(app.get("/metrics", Some(&agent)).await.status(), 403);
    assert_eq!(app.get("/metrics", Some(&intake)).await.status(), 403);

    let (code, _) = app
        .lead(&intake, json!({"name": "Deniz", "phone": "0532 123 45 67"}))
        .await;
    assert_eq!(code, 202);
    let (code, _) = app.lead(&metrics, json!({"phone": "0532 123 45 67"})).await;
    assert_eq!(code, 403);

    // `?access_token=` only on the WebSocket route.
    let r = app
        .get(&format!("/api/v1/customers?access_token={admin}"), None)
        .await;
    assert_eq!(error_code(r, 401).await, "unauthorized");
    let r = app
        .get(&format!("/api/v1/events?access_token={admin}"), None)
        .await;
    assert_ne!(r.status(), 401, "the stream takes its token from the URL");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_of_different_callers_never_collide() {
    let app = App::start().await;
    let form_a = app.token(TokenScope::Intake, None).await;
    let form_b = app.token(TokenScope::Intake, None).await;
    let lead = |phone: &str| json!({"phone": phone, "external_id": "42"});
    let (code, a) = app.lead(&form_a, lead("0532 111 11 11")).await;
    assert_eq!((code, a["duplicate"].clone()), (202, json!(false)));
    let (code, b) = app.lead(&form_b, lead("0532 222 22 22")).await;
    assert_eq!((code, b["duplicate"].clone()), (202, json!(false)), "{b}");
    assert_ne!(a["event_id"], b["event_id"]);
    // The same caller retrying is still one lead.
    let (code, again) = app.lead(&form_a, lead("0532 111 11 11")).await;
    assert_eq!((code, again["duplicate"].clone()), (202, json!(true)));
    assert_eq!(again["event_id"], a["event_id"]);

    // Overlong fields are named.
    let (code, body) = app
        .lead(
            &form_a,
            json!({"phone": "0532 333 33 33", "name": "x".repeat(201)}),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(body["details"]["fields"][0]["field"], "name", "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_slow_clients_are_bounded() {
    let app = App::start().await;
    let admin = app.token(TokenScope::Full, None).await;
    let addr = app.addr;
    let auth = format!("Authorization: Bearer {admin}\r\n");
    tokio::task::spawn_blocking(move || {
        // Too large up front: 413 at once, before the client sends a byte
        // of body (no `100 Continue`).
        let req = format!(
            "POST /api/v1/customers/x/move HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"
        );
        let (text, _) = raw(addr, req.as_bytes(), Duration::from_secs(2));
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(!text.contains("100 Continue"), "{text}");
        assert!(text.contains("\"payload_too_large\""), "{text}");

        // A chunked body over the limit is 413 too; broken chunking is 400.
        let big = "a".repeat(70 * 1024);
        let req = format!(
            "POST /api/v1/customers/x/move HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
            big.len()
        );
        let (text, _) = raw(addr, req.as_bytes(), Duration::from_secs(2));
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        let req = format!(
            "POST /api/v1/customers/x/move HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n0\r\n\r\n"
        );
        let (text, _) = raw(addr, req.as_bytes(), Duration::from_secs(2));
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
        assert!(text.contains("\"code\""), "{text}");

        // Half a request (slowloris) and a silent connection are closed
        // once the header timeout passes.
        let started = Instant::now();
        let (_, closed) = raw(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n",
            Duration::from_secs(5),
        );
        assert!(closed, "a half-sent request is cut off");
        assert!(started.elapsed() < HEADER_TIMEOUT * 4);
        let (_, closed) = raw(addr, b"", Duration::from_secs(5));
        assert!(closed, "a silent connection is closed");
        // An idle keep-alive connection too, after its answer.
        let (text, closed) = raw(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
            Duration::from_secs(5),
        );
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(closed, "an idle keep-alive connection is closed");
    })
    .await
    .unwrap();
    app.stop().await;
}
