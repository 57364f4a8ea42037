//! Embedded mode end to end: a real `crm serve` on a SQLite file, spoken to
//! over HTTP and WebSocket like Meta, a web form and a dashboard would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use common::{Api, Crm, embedded_env, temp_dir};
use serde_json::{Value, json};

fn wa_text(wamid: &str, wa_id: &str, name: &str, text: &str) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "730194857362910", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "908501112233", "phone_number_id": "418273645501234"},
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

async fn start() -> (Crm, Api) {
    let dir = temp_dir("embedded");
    let env = embedded_env(&dir);
    let token = Crm::token(&env);
    let crm = Crm::start("serve", &env).owning(dir);
    let api = Api::new(&crm.base, &token);
    (crm, api)
}

#[tokio::test]
async fn verification_handshake() {
    let (crm, _api) = start().await;
    let http = reqwest::Client::new();
    let ok = http
        .get(format!(
            "{}/webhooks/meta?hub.mode=subscribe&hub.challenge=804311927&hub.verify_token={}",
            crm.base,
            common::VERIFY_TOKEN
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "804311927");
    let bad = http
        .get(format!(
            "{}/webhooks/meta?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
            crm.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 403);
}

#[tokio::test]
async fn bad_input_is_answered_and_nothing_half_written() {
    let (crm, api) = start().await;
    let http = reqwest::Client::new();
    let body = wa_text("wamid.BAD1", "905321234567", "X", "hi");
    // Missing and wrong signatures: 401, nothing stored.
    let r = http
        .post(format!("{}/webhooks/meta", crm.base))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "invalid_signature");
    let r = http
        .post(format!("{}/webhooks/meta", crm.base))
        .header("x-hub-signature-256", "sha256=00")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, events) = api.get("/api/v1/inbound-events").await;
    assert_eq!(events["items"].as_array().unwrap().len(), 0, "{events}");
    // Signed but not JSON: 400, kept for inspection as invalid.
    let (code, err) = api.webhook(b"{not json").await;
    assert_eq!(code, 400);
    assert_eq!(err["code"], "bad_request");
    let (_, invalid) = api.get("/api/v1/inbound-events?status=invalid").await;
    assert_eq!(invalid["items"].as_array().unwrap().len(), 1);
    // Oversized: 413 with a JSON error.
    let big = vec![b' '; 3 * 1024 * 1024 + 1];
    let r = http
        .post(format!("{}/webhooks/meta", crm.base))
        .header("x-hub-signature-256", common::sign(&big))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "payload_too_large");
    // Unknown object and unknown field: 200, stored, ignored.
    let (code, _) = api
        .webhook(
            br#"{"object":"user","entry":[{"id":"1","changes":[{"field":"feed","value":{}}]}]}"#,
        )
        .await;
    assert_eq!(code, 200);
    let unknown_field = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 2093847561029385u64}}]}]});
    let (code, _) = api.webhook(unknown_field.to_string().as_bytes()).await;
    assert_eq!(code, 200);
    api.wait_for("/api/v1/inbound-events?status=ignored", 10, |v| {
        v["items"].as_array().unwrap().len() == 2
    })
    .await;
    let (_, customers) = api.get("/api/v1/customers").await;
    assert_eq!(customers["items"].as_array().unwrap().len(), 0);
    // API without a token.
    let r = http
        .get(format!("{}/api/v1/customers", crm.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["code"], "unauthorized");
}

#[tokio::test]
async fn whatsapp_message_becomes_one_customer_even_when_delivered_five_times() {
    let (_crm, api) = start().await;
    let body = wa_text(
        "wamid.E2E1",
        "905321234567",
        "Deniz Kaya",
        "Fiyat alabilir miyim?",
    );
    for _ in 0..5 {
        let (code, _) = api.webhook(&body).await;
        assert_eq!(code, 200);
    }
    // Phone accepted in any format.
    for phone in [
        "0532 123 45 67",
        "5321234567",
        "+90 (532) 123-45-67",
        "905321234567",
    ] {
        let q = format!("/api/v1/customers?phone={}", urlencode(phone));
        let v = api
            .wait_for(&q, 15, |v| {
                v["items"].as_array().is_some_and(|a| a.len() == 1)
            })
            .await;
        assert_eq!(v["items"][0]["phone"], "+905321234567");
        assert_eq!(v["items"][0]["name"], "Deniz Kaya");
        assert_eq!(v["items"][0]["stage"]["name"], "Potansiyel");
    }
    let (_, all) = api.get("/api/v1/customers").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let id = all["items"][0]["id"].as_str().unwrap().to_string();
    let (_, convs) = api
        .get(&format!("/api/v1/customers/{id}/conversations"))
        .await;
    assert_eq!(convs["items"].as_array().unwrap().len(), 1);
    let conv = convs["items"][0]["id"].as_str().unwrap();
    let (_, msgs) = api
        .get(&format!("/api/v1/conversations/{conv}/messages"))
        .await;
    assert_eq!(msgs["items"].as_array().unwrap().len(), 1);
    assert_eq!(msgs["items"][0]["body"], "Fiyat alabilir miyim?");
    let (_, tl) = api.get(&format!("/api/v1/customers/{id}/timeline")).await;
    let kinds: Vec<&str> = tl["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "message.received").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "customer.created").count(),
        1,
        "{kinds:?}"
    );
    let (_, events) = api.get("/api/v1/inbound-events").await;
    assert_eq!(
        events["items"].as_array().unwrap().len(),
        1,
        "five deliveries, one stored event"
    );
    let (_, pipes) = api.get("/api/v1/pipelines").await;
    let stages = pipes["items"][0]["stages"].as_array().unwrap();
    let names: Vec<&str> = stages.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Potansiyel",
            "Görüşülüyor",
            "Randevu",
            "Kapora",
            "Satış Tamamlandı",
            "Takip Edilecek"
        ]
    );
    assert_eq!(stages[0]["count"], 1);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn intake_leads_validate_dedupe_and_attribute() {
    let (crm, api) = start().await;
    let http = reqwest::Client::new();
    // No token: 401.
    let r = http
        .post(format!("{}/intake/leads", crm.base))
        .json(&json!({"phone": "05321234567"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Neither phone nor email: 422 naming the fields.
    let (code, err) = api
        .post_json("/intake/leads", &json!({"name": "Nobody", "phone": "12"}))
        .await;
    assert_eq!(code, 422);
    assert_eq!(err["code"], "validation_failed");
    assert_eq!(err["details"]["fields"][0]["field"], "phone");
    // JSON lead with UTM and extra answers.
    let (code, ok) = api
        .post_json("/intake/leads", &json!({"name": "Ayşe Demir", "phone": "0532 765 43 21", "email": " Ayse@Example.COM ",
            "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring", "gclid": "Cj0KCQ", "consent": true,
            "preferred_branch": "Kadıköy"}))
        .await;
    assert_eq!(code, 202, "{ok}");
    assert!(ok["event_id"].as_str().is_some());
    // Form-encoded re-application from the same person (by e-mail).
    let r = http
        .post(format!("{}/intake/leads", crm.base))
        .bearer_auth(&api.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=Ayse&email=ayse%40example.com&utm_source=facebook&fbclid=IwAR1&source=landing")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v = api
        .wait_for("/api/v1/customers?email=AYSE@example.com", 15, |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let d = api
        .wait_for(&format!("/api/v1/customers/{id}"), 15, |v| {
            v["leads"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    let leads = d["leads"].as_array().unwrap();
    let web = leads.iter().find(|l| l["source"] == "web_form").unwrap();
    assert_eq!(web["utm_campaign"], "spring");
    assert_eq!(web["gclid"], "Cj0KCQ");
    assert_eq!(web["answers"]["preferred_branch"], "Kadıköy");
    assert!(web["received_at"].as_i64().unwrap() > 0);
    let landing = leads.iter().find(|l| l["source"] == "landing").unwrap();
    assert_eq!(landing["fbclid"], "IwAR1");
    let (_, tl) = api.get(&format!("/api/v1/customers/{id}/timeline")).await;
    assert!(
        tl["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "lead.reapplied"),
        "{tl}"
    );
    // Phone of one customer, e-mail of another: attach to the phone match, flag for review.
    let (code, _) = api
        .post_json(
            "/intake/leads",
            &json!({"name": "Other", "phone": "+905329998877", "email": "other@example.com"}),
        )
        .await;
    assert_eq!(code, 202);
    api.wait_for("/api/v1/customers?email=other@example.com", 15, |v| {
        v["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    let (code, _) = api
        .post_json(
            "/intake/leads",
            &json!({"phone": "0532 765 43 21", "email": "other@example.com"}),
        )
        .await;
    assert_eq!(code, 202);
    let d = api
        .wait_for(&format!("/api/v1/customers/{id}"), 15, |v| {
            v["possible_duplicates"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        })
        .await;
    assert_eq!(d["leads"].as_array().unwrap().len(), 3);
    let (_, all) = api.get("/api/v1/customers").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        2,
        "never merged, never a third customer"
    );
}

#[tokio::test]
async fn fifty_simultaneous_leads_for_one_new_number_make_one_customer() {
    let (_crm, api) = start().await;
    let api = Arc::new(api);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = api.clone();
        let phone = [
            "0532 111 22 33",
            "5321112233",
            "+90 (532) 111-22-33",
            "905321112233",
        ][i % 4];
        tasks.push(tokio::spawn(async move {
            api.post_json(
                "/intake/leads",
                &json!({"name": format!("Burst {i}"), "phone": phone}),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 202);
    }
    let v = api
        .wait_for("/api/v1/customers?phone=05321112233", 30, |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let id = v["items"][0]["id"].as_str().unwrap();
    let d = api
        .wait_for(&format!("/api/v1/customers/{id}"), 30, |v| {
            v["leads"].as_array().is_some_and(|a| a.len() == 50)
        })
        .await;
    assert_eq!(d["leads"].as_array().unwrap().len(), 50);
    let (_, all) = api.get("/api/v1/customers").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
}

#[derive(Clone)]
struct GraphMock {
    calls: Arc<AtomicUsize>,
    fail_first: usize,
}

async fn graph_lead(
    State(m): State<GraphMock>,
    Path((_v, id)): Path<(String, String)>,
) -> (StatusCode, axum::Json<Value>) {
    let n = m.calls.fetch_add(1, Ordering::SeqCst);
    if n < m.fail_first {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({"error": {"message": "An unexpected error has occurred", "type": "OAuthException", "code": 2}}),
            ),
        );
    }
    (
        StatusCode::OK,
        axum::Json(
            json!({"created_time": "2026-01-01T12:00:00+0000", "id": id, "ad_id": "120212345678900123", "ad_name": "Spring ad",
            "adset_id": "120212345678900456", "campaign_id": "120219876543210001", "campaign_name": "Spring leads", "form_id": "892736451028374",
            "field_data": [{"name": "full_name", "values": ["Deniz Kaya"]}, {"name": "email", "values": ["deniz.kaya@example.com"]},
                           {"name": "phone_number", "values": ["+905321234599"]}, {"name": "preferred_branch", "values": ["Kadikoy"]}]}),
        ),
    )
}

#[tokio::test]
async fn leadgen_is_fetched_with_retries_and_attributed() {
    let mock = GraphMock {
        calls: Arc::new(AtomicUsize::new(0)),
        fail_first: 2,
    };
    let app = axum::Router::new()
        .route("/{v}/{id}", get(graph_lead))
        .with_state(mock.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = temp_dir("leadgen");
    let mut env = embedded_env(&dir);
    env.insert("CRM_GRAPH_BASE_URL".into(), format!("http://{graph}"));
    env.insert("CRM_META_ACCESS_TOKEN".into(), "EAAtest".into());
    let token = Crm::token(&env);
    let crm = Crm::start("serve", &env);
    let api = Api::new(&crm.base, &token);
    // Numeric ids beyond 2^53 must survive exactly.
    let body = r#"{"object":"page","entry":[{"id":104938271650432,"time":1767268805,"changes":[{"field":"leadgen","value":{"leadgen_id":1187654321098765,"page_id":104938271650432,"form_id":892736451028374,"adgroup_id":120212345678900123,"ad_id":120212345678900123,"created_time":1767268800}}]}]}"#;
    let (code, _) = api.webhook(body.as_bytes()).await;
    assert_eq!(code, 200);
    let v = api
        .wait_for("/api/v1/customers?email=deniz.kaya@example.com", 30, |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let id = v["items"][0]["id"].as_str().unwrap();
    let (_, d) = api.get(&format!("/api/v1/customers/{id}")).await;
    let lead = &d["leads"][0];
    assert_eq!(lead["source"], "meta_lead_ads");
    assert_eq!(lead["external_id"], "1187654321098765");
    assert_eq!(lead["ad_id"], "120212345678900123");
    assert_eq!(lead["campaign_id"], "120219876543210001");
    assert_eq!(lead["form_id"], "892736451028374");
    assert_eq!(lead["page_id"], "104938271650432");
    assert_eq!(lead["answers"]["preferred_branch"], "Kadikoy");
    assert!(
        mock.calls.load(Ordering::SeqCst) >= 3,
        "two 500s then a 200"
    );
}

#[tokio::test]
async fn moving_a_card_checks_the_expected_stage_and_streams_events() {
    let (crm, api) = start().await;
    let ws_url = format!(
        "{}/api/v1/events?access_token={}",
        crm.base.replace("http://", "ws://"),
        api.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    use futures::StreamExt;
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("stream.open"));
    let (code, _) = api
        .post_json(
            "/intake/leads",
            &json!({"name": "Mover", "phone": "05324445566"}),
        )
        .await;
    assert_eq!(code, 202);
    let v = api
        .wait_for("/api/v1/customers?phone=05324445566", 15, |v| {
            v["items"].as_array().is_some_and(|a| a.len() == 1)
        })
        .await;
    let id = v["items"][0]["id"].as_str().unwrap().to_string();
    let mut saw_created = false;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await
    {
        let ev: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        if ev["kind"] == "customer.created" && ev["customer_id"] == id.as_str() {
            saw_created = true;
            break;
        }
    }
    assert!(saw_created, "customer.created reached the stream");
    let (code, r) = api
        .post_json(
            &format!("/api/v1/customers/{id}/move"),
            &json!({"stage_id": "st_default_3", "expected_stage_id": "st_default_2"}),
        )
        .await;
    assert_eq!(code, 409, "{r}");
    assert_eq!(r["code"], "conflict");
    let (code, r) = api
        .post_json(
            &format!("/api/v1/customers/{id}/move"),
            &json!({"stage_id": "st_default_3", "expected_stage_id": "st_default_1"}),
        )
        .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["customer"]["stage"]["name"], "Randevu");
    let (code, _) = api
        .post_json(
            &format!("/api/v1/customers/{id}/move"),
            &json!({"stage_id": "nope"}),
        )
        .await;
    assert_eq!(code, 422);
    let (code, _) = api
        .post_json(
            "/api/v1/customers/missing/move",
            &json!({"stage_id": "st_default_2"}),
        )
        .await;
    assert_eq!(code, 404);
    let (_, tl) = api.get(&format!("/api/v1/customers/{id}/timeline")).await;
    assert!(
        tl["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "card.moved")
    );
    // A returning lead keeps its stage.
    let (code, _) = api
        .post_json(
            "/intake/leads",
            &json!({"name": "Mover", "phone": "+905324445566", "utm_campaign": "again"}),
        )
        .await;
    assert_eq!(code, 202);
    let d = api
        .wait_for(&format!("/api/v1/customers/{id}"), 15, |v| {
            v["leads"].as_array().is_some_and(|a| a.len() == 2)
        })
        .await;
    assert_eq!(d["stage"]["name"], "Randevu");
    let mut saw_move = false;
    while let Ok(Some(Ok(msg))) =
        tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await
    {
        let ev: Value = serde_json::from_str(msg.to_text().unwrap_or("{}")).unwrap_or(Value::Null);
        if ev["kind"] == "card.moved" {
            saw_move = true;
            break;
        }
    }
    assert!(saw_move);
}

#[derive(Clone)]
struct FlakyGraph {
    broken: Arc<std::sync::atomic::AtomicBool>,
}

fn sample_lead(id: &str, email: &str) -> Value {
    json!({"created_time": "2026-01-01T12:00:00+0000", "id": id, "ad_id": "120212345678900123", "campaign_id": "120219876543210001",
        "form_id": "892736451028374", "field_data": [{"name": "full_name", "values": ["Backfill Person"]}, {"name": "email", "values": [email]}]})
}

async fn flaky_lead(
    State(g): State<FlakyGraph>,
    Path((_v, id)): Path<(String, String)>,
) -> (StatusCode, axum::Json<Value>) {
    if g.broken.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error": {"message": "Unsupported get request", "type": "GraphMethodException", "code": 100, "fbtrace_id": "Ax1"}}),
            ),
        );
    }
    (
        StatusCode::OK,
        axum::Json(sample_lead(&id, "retried@example.com")),
    )
}

async fn form_leads(Path((_v, _form)): Path<(String, String)>) -> axum::Json<Value> {
    axum::Json(
        json!({"data": [sample_lead("1187654321000999", "missed@example.com")], "paging": {"cursors": {"before": "a", "after": "b"}}}),
    )
}

#[tokio::test]
async fn dead_events_retry_by_api_and_backfill_recovers_missed_leads() {
    let g = FlakyGraph {
        broken: Arc::new(std::sync::atomic::AtomicBool::new(true)),
    };
    let app = axum::Router::new()
        .route("/{v}/{id}", get(flaky_lead))
        .route("/{v}/{form}/leads", get(form_leads))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let graph = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = temp_dir("retry");
    let mut env = embedded_env(&dir);
    env.insert("CRM_GRAPH_BASE_URL".into(), format!("http://{graph}"));
    env.insert("CRM_META_ACCESS_TOKEN".into(), "EAAtest".into());
    // Default attempt budget (8): a permanent Graph error must go dead at once anyway.
    env.insert("CRM_META_LEAD_FORMS".into(), "892736451028374".into());
    env.insert("CRM_BACKFILL_CRON".into(), "*/2 * * * * *".into());
    let token = Crm::token(&env);
    let (code, _, err) = Crm::cli(
        &env,
        &["user", "create", "agent@example.com", "--role", "agent"],
        Some("a long passphrase\n"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, agent_token, err) = Crm::cli(
        &env,
        &[
            "token",
            "create",
            "agent-token",
            "--user",
            "agent@example.com",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let crm = Crm::start("serve", &env);
    let api = Api::new(&crm.base, &token);
    let agent = Api::new(&crm.base, agent_token.trim());

    let body = br#"{"object":"page","entry":[{"id":"104938271650432","changes":[{"field":"leadgen","value":{"leadgen_id":"1187654321000111","page_id":"104938271650432","form_id":"892736451028374"}}]}]}"#;
    assert_eq!(api.webhook(body).await.0, 200);
    let dead = api
        .wait_for("/api/v1/inbound-events?status=dead", 20, |v| {
            !v["items"].as_array().unwrap().is_empty()
        })
        .await;
    let ev = &dead["items"][0];
    assert!(
        ev["last_error"]
            .as_str()
            .unwrap()
            .contains("1187654321000111"),
        "{ev}"
    );
    assert_eq!(
        ev["attempts"], 1,
        "Meta's permanent error is not retried: {ev}"
    );
    let id = ev["id"].as_str().unwrap().to_string();
    // Agents see customers but do not operate intake.
    assert_eq!(agent.get("/api/v1/inbound-events").await.0, 403);
    assert_eq!(
        agent
            .post_json(&format!("/api/v1/inbound-events/{id}/retry"), &json!({}))
            .await
            .0,
        403
    );
    assert_eq!(agent.get("/api/v1/customers").await.0, 200);
    // Fixed upstream: retry by API processes it.
    g.broken.store(false, Ordering::SeqCst);
    let (code, r) = api
        .post_json(&format!("/api/v1/inbound-events/{id}/retry"), &json!({}))
        .await;
    assert_eq!(code, 200, "{r}");
    api.wait_for("/api/v1/customers?email=retried@example.com", 20, |v| {
        v["items"].as_array().unwrap().len() == 1
    })
    .await;
    let (code, r) = api
        .post_json(&format!("/api/v1/inbound-events/{id}/retry"), &json!({}))
        .await;
    assert_eq!(code, 409, "a done event is not retried: {r}");
    assert_eq!(
        api.post_json("/api/v1/inbound-events/nope/retry", &json!({}))
            .await
            .0,
        404
    );
    // The scheduled backfill found the lead no webhook announced.
    let v = api
        .wait_for("/api/v1/customers?email=missed@example.com", 30, |v| {
            v["items"].as_array().unwrap().len() == 1
        })
        .await;
    let cid = v["items"][0]["id"].as_str().unwrap();
    let (_, d) = api.get(&format!("/api/v1/customers/{cid}")).await;
    assert_eq!(d["leads"][0]["external_id"], "1187654321000999");
    assert_eq!(d["leads"][0]["source"], "meta_lead_ads");
    assert_eq!(
        d["leads"].as_array().unwrap().len(),
        1,
        "later backfill runs add nothing"
    );
}

#[tokio::test]
async fn metrics_need_a_token_and_count_outcomes_and_sigterm_exits_cleanly() {
    let (mut crm, api) = start().await;
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", crm.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        api.webhook(&wa_text("wamid.M1", "905321230000", "M", "x"))
            .await
            .0,
        200
    );
    api.wait_for("/api/v1/customers", 15, |v| {
        v["items"].as_array().unwrap().len() == 1
    })
    .await;
    // The job's counters move just after its commit: poll briefly.
    let mut text = String::new();
    for _ in 0..200 {
        text = reqwest::Client::new()
            .get(format!("{}/metrics", crm.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(&text, "crm_jobs_total{outcome=\"done\"}") >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        text.contains("crm_intake_total{outcome=\"pending\"} 1"),
        "{text}"
    );
    // Under load the sweeper (2 s grace here) may push a slow event's job a
    // second time; both runs count, the effect stays single (one customer).
    assert!(
        metric(&text, "crm_jobs_total{outcome=\"done\"}") >= 1,
        "{text}"
    );
    assert!(metric(&text, "crm_job_seconds_count") >= 1, "{text}");
    let (_, all) = api.get("/api/v1/customers").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert!(text.contains("crm_queue_depth"), "{text}");
    assert_eq!(crm.terminate(), Some(0), "SIGTERM: drain and exit 0");
}

/// The value of one Prometheus sample line (0 when absent).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}
