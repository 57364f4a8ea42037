//! Graph client against a local axum server speaking Graph's wire format.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crm_connectors::graph::{GraphClient, GraphConfig, GraphError};
use crm_connectors::signature::appsecret_proof;
use serde_json::{Value, json};

/// Headers, decoded query and raw query of one request.
type Seen = (HeaderMap, HashMap<String, String>, String);

#[derive(Default)]
struct Mock {
    calls: AtomicUsize,
    seen: std::sync::Mutex<Vec<Seen>>,
    base: std::sync::Mutex<String>,
}

type Shared = Arc<Mock>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

fn client(base: &str, app_secret: Option<&str>) -> GraphClient {
    GraphClient::new(GraphConfig {
        base_url: base.to_owned(),
        access_token: "EAAdemoToken123".into(),
        app_secret: app_secret.map(str::to_owned),
        max_attempts: 4,
        initial_backoff: Duration::from_millis(1),
        timeout: Duration::from_secs(5),
        ..GraphConfig::default()
    })
    .unwrap()
}

fn lead_json() -> Value {
    json!({
        "created_time": "2026-01-01T12:00:00+0000", "id": "1187654321098765",
        "ad_id": "120212345678900123", "ad_name": "Spring ad", "adset_id": "120212345678900100",
        "campaign_id": "120219876543210001", "campaign_name": "Spring leads",
        "form_id": "892736451028374", "is_organic": false, "platform": "fb",
        "field_data": [{"name": "full_name", "values": ["Deniz Kaya"]}, {"name": "email", "values": ["deniz.kaya@example.com"]},
                       {"name": "phone_number", "values": ["+905321234567"]}, {"name": "preferred_branch", "values": ["Kadikoy"]}],
        "custom_disclaimer_responses": [{"checkbox_key": "optional_1", "is_checked": "1"}, {"checkbox_key": "optional_2", "is_checked": ""}]
    })
}

async fn flaky_lead(
    State(m): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let n = m.calls.fetch_add(1, Ordering::SeqCst);
    m.seen
        .lock()
        .unwrap()
        .push((headers, q, raw.unwrap_or_default()));
    if n < 2 {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2, "fbtrace_id": "A1"}})),
        )
            .into_response();
    }
    Json(lead_json()).into_response()
}

#[tokio::test]
async fn fetch_lead_retries_5xx_then_succeeds() {
    let mock = Shared::default();
    let app = Router::new()
        .route("/v25.0/{id}", get(flaky_lead))
        .with_state(mock.clone());
    let base = serve(app).await;
    let c = client(&base, Some("demo_app_secret_123"));

    let lead = c.fetch_lead("1187654321098765").await.unwrap();
    assert_eq!(mock.calls.load(Ordering::SeqCst), 3);
    assert_eq!(lead.id, "1187654321098765");
    assert_eq!(lead.created_time, Some(1_767_268_800_000));
    assert_eq!(lead.ad_id.as_deref(), Some("120212345678900123"));
    assert_eq!(lead.campaign_name.as_deref(), Some("Spring leads"));
    assert_eq!(lead.is_organic, Some(false));
    assert_eq!(lead.platform.as_deref(), Some("fb"));
    assert_eq!(lead.full_name().as_deref(), Some("Deniz Kaya"));
    assert_eq!(lead.phone(), Some("+905321234567"));
    assert_eq!(lead.email(), Some("deniz.kaya@example.com"));
    assert_eq!(lead.field(&["Preferred_Branch"]), Some("Kadikoy"));
    assert_eq!(
        lead.consents,
        vec![
            ("optional_1".to_owned(), true),
            ("optional_2".to_owned(), false)
        ]
    );

    let seen = mock.seen.lock().unwrap();
    let (headers, q, raw) = &seen[2];
    assert_eq!(
        headers.get("authorization").unwrap(),
        "Bearer EAAdemoToken123"
    );
    assert_eq!(
        q.get("fields").map(String::as_str),
        Some(
            "created_time,id,ad_id,ad_name,adset_id,adset_name,campaign_id,campaign_name,form_id,field_data,custom_disclaimer_responses,is_organic,platform"
        )
    );
    assert_eq!(
        q.get("appsecret_proof").map(String::as_str),
        Some("691027129ae519b7d686c287abf4e59e16a86dc250e8ad1d0dd4cf59a2008cfa")
    );
    // The token travels only in the header.
    assert!(!raw.contains("EAAdemoToken123"));
    assert!(!q.contains_key("access_token"));
}

#[tokio::test]
async fn fetch_lead_gives_up_after_max_attempts() {
    let mock = Shared::default();
    let app = Router::new()
        .route(
            "/v25.0/{id}",
            get(|State(m): State<Shared>| async move {
                m.calls.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}})),
                )
            }),
        )
        .with_state(mock.clone());
    let base = serve(app).await;
    let err = client(&base, None).fetch_lead("1").await.unwrap_err();
    assert_eq!(mock.calls.load(Ordering::SeqCst), 4);
    assert!(err.is_transient());
    assert!(
        matches!(
            err,
            GraphError::Transient {
                status: 403,
                code: Some(4),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn permanent_error_is_not_retried() {
    let mock = Shared::default();
    let app = Router::new()
        .route(
            "/v25.0/{id}",
            get(|State(m): State<Shared>| async move {
                m.calls.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": {"message": "Unsupported get request. Object with ID '42' does not exist",
                        "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "AbC123xYz"}})),
                )
            }),
        )
        .with_state(mock.clone());
    let base = serve(app).await;
    let err = client(&base, None).fetch_lead("42").await.unwrap_err();
    assert_eq!(mock.calls.load(Ordering::SeqCst), 1);
    assert!(!err.is_transient());
    match &err {
        GraphError::Permanent {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*code, Some(100));
            assert!(message.contains("does not exist"), "{message}");
            assert!(message.contains("AbC123xYz"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("EAAdemoToken123"));
}

#[tokio::test]
async fn network_errors_are_transient_and_do_not_leak_the_token() {
    // Bind then drop to get a port nobody listens on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(&format!("http://{addr}"), Some("s"))
        .fetch_lead("1")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::Network(_)), "{err:?}");
    assert!(err.is_transient());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("EAAdemoToken123"), "{shown}");
    assert!(!shown.contains("appsecret_proof"), "{shown}");
}

async fn leads_page(
    State(m): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Json<Value> {
    m.calls.fetch_add(1, Ordering::SeqCst);
    m.seen
        .lock()
        .unwrap()
        .push((headers, q.clone(), raw.unwrap_or_default()));
    let base = m.base.lock().unwrap().clone();
    if q.get("after").map(String::as_str) == Some("PAGE2") {
        Json(json!({
            "data": [{"id": 1187654321098767_u64, "created_time": "2026-01-02T08:30:00+0000",
                      "field_data": [{"name": "first_name", "values": ["Ali"]}, {"name": "last_name", "values": ["Veli"]},
                                     {"name": "phone", "values": ["+905320000000"]}]}],
            "paging": {"cursors": {"before": "B2", "after": "C2"}}
        }))
    } else {
        Json(json!({
            "data": [lead_json(), {"id": "1187654321098766", "created_time": "2026-01-01T13:00:00+0000", "field_data": []},
                     {"no_id": true}],
            "paging": {"cursors": {"before": "B1", "after": "PAGE2"},
                       "next": format!("{base}/v25.0/892736451028374/leads?after=PAGE2&limit=100&access_token=EAAdemoToken123")}
        }))
    }
}

#[tokio::test]
async fn list_form_leads_follows_paging_next() {
    let mock = Shared::default();
    let app = Router::new()
        .route("/v25.0/{form}/leads", get(leads_page))
        .with_state(mock.clone());
    let base = serve(app).await;
    *mock.base.lock().unwrap() = base.clone();

    let leads = client(&base, Some("demo_app_secret_123"))
        .list_form_leads("892736451028374", 1_767_225_600)
        .await
        .unwrap();
    assert_eq!(mock.calls.load(Ordering::SeqCst), 2);
    let ids: Vec<&str> = leads.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        ["1187654321098765", "1187654321098766", "1187654321098767"]
    );
    assert_eq!(leads[2].full_name().as_deref(), Some("Ali Veli"));
    assert_eq!(leads[2].phone(), Some("+905320000000"));
    assert_eq!(leads[2].created_time, Some(1_767_342_600_000));

    let seen = mock.seen.lock().unwrap();
    let (headers, first, _) = &seen[0];
    assert_eq!(
        headers.get("authorization").unwrap(),
        "Bearer EAAdemoToken123"
    );
    let filtering: Value = serde_json::from_str(first.get("filtering").unwrap()).unwrap();
    assert_eq!(
        filtering,
        json!([{"field": "time_created", "operator": "GREATER_THAN", "value": 1_767_225_600}])
    );
    assert_eq!(first.get("limit").map(String::as_str), Some("100"));
    assert!(first.get("fields").unwrap().contains("field_data"));
    let proof = appsecret_proof(b"demo_app_secret_123", "EAAdemoToken123");
    assert_eq!(first.get("appsecret_proof"), Some(&proof));
    // The second request is the `next` link, with the proof added.
    let (_, second, _) = &seen[1];
    assert_eq!(second.get("after").map(String::as_str), Some("PAGE2"));
    assert_eq!(second.get("appsecret_proof"), Some(&proof));
}

#[tokio::test]
async fn foreign_next_link_falls_back_to_cursor() {
    let mock = Shared::default();
    let app = Router::new()
        .route("/v25.0/{form}/leads", get(leads_page))
        .with_state(mock.clone());
    let base = serve(app).await;
    // `next` points elsewhere: the client must not send the token there.
    *mock.base.lock().unwrap() = "http://203.0.113.9:1".to_owned();

    let leads = client(&base, None)
        .list_form_leads("892736451028374", 0)
        .await
        .unwrap();
    assert_eq!(leads.len(), 3);
    let seen = mock.seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (_, second, _) = &seen[1];
    assert_eq!(second.get("after").map(String::as_str), Some("PAGE2"));
    assert!(second.contains_key("filtering"));
}
