//! Staff access over real HTTP and WebSocket, in-process: one table of who
//! may call which route on which customer (the seeded roles' grants and
//! scopes, narrow service tokens, no credentials), the live stream's
//! per-customer filter, sessions with their CSRF token and Origin check,
//! sign-in rotation, enumeration and throttling, the audit log, and
//! offboarding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::App;
use crm_api::signin::{SignInError, sign_in};
use crm_domain::auth::{TokenScope, hash_password};
use crm_domain::ids::{CustomerId, EventId, TeamId, UserId};
use crm_domain::intake::IntakeLead;
use crm_domain::model::{Action, EventKind};
use crm_domain::session::wait_minutes;
use crm_store::Origin;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

const PASSWORD: &str = "a long passphrase 42";
const WRONG: &str = "not the passphrase 17";

/// A staff member and their full-scope token.
struct Staff {
    id: UserId,
    email: String,
    token: String,
}

async fn staff(app: &App, role: &str, name: &str, hash: &str) -> Staff {
    let (id, email) = app.user_with(role, name, hash).await;
    let (_, token) = app
        .store
        .create_token(name, Some(&id), TokenScope::Full)
        .await
        .unwrap();
    Staff { id, email, token }
}

/// How a request proves who it is.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Nobody,
    Bearer(&'a str),
    Session {
        cookie: &'a str,
        csrf: Option<&'a str>,
        origin: Option<&'a str>,
    },
}

async fn call(
    app: &App,
    method: &str,
    path: &str,
    auth: Auth<'_>,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.http.request(method, format!("{}{path}", app.base));
    match auth {
        Auth::Nobody => {}
        Auth::Bearer(t) => req = req.bearer_auth(t),
        Auth::Session {
            cookie,
            csrf,
            origin,
        } => {
            req = req.header("cookie", format!("crm_session={cookie}"));
            if let Some(c) = csrf {
                req = req.header("x-csrf-token", c);
            }
            if let Some(o) = origin {
                req = req.header("origin", o);
            }
        }
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Posts a lead with an intake token and does what the ingest worker does
/// with it; returns the customer it made.
async fn customer(app: &App, intake: &str, name: &str, phone: &str) -> CustomerId {
    let (code, body) = app
        .lead(
            intake,
            json!({"name": name, "phone": phone, "email": format!("{}@example.com", name.to_lowercase()), "external_id": name}),
        )
        .await;
    assert_eq!(code, 202, "{body}");
    let id = EventId::new(body["event_id"].as_str().unwrap());
    let rows = app
        .store
        .inbound_events(std::slice::from_ref(&id))
        .await
        .unwrap();
    let ev = &rows[0];
    let lead: IntakeLead = serde_json::from_slice(&ev.body).unwrap();
    let input = lead.to_lead_input(
        ev.id.as_str(),
        ev.received_at,
        &app.state.config.default_region,
    );
    let events = app
        .store
        .apply_event(ev.id.as_str(), &[Action::Lead(input)])
        .await
        .unwrap();
    events
        .iter()
        .find(|e| e.kind == EventKind::CustomerCreated)
        .and_then(|e| e.customer_id.clone())
        .unwrap()
}

/// Which of the world's customers a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cust {
    /// Owned by the sales user: in sales' scope.
    Mine,
    /// Owned by a sales user outside every team: out of scope for sales and
    /// operations.
    Theirs,
    /// Owned by the operations user's teammate.
    Mates,
    /// Nobody's: the unassigned pool.
    Pool,
    /// The row names no customer.
    Na,
}

const ALL: &[Cust] = &[Cust::Mine, Cust::Theirs, Cust::Mates, Cust::Pool];

/// The users, tokens and customers every test starts from.
struct World {
    app: App,
    admin: Staff,
    manager: Staff,
    sales: Staff,
    ops: Staff,
    /// A sales user in the operations user's team.
    mate: Staff,
    /// A sales user in no team.
    stranger: Staff,
    intake: String,
    metrics: String,
    team: TeamId,
    customers: BTreeMap<Cust, CustomerId>,
}

impl World {
    async fn build(config: &[(&str, &str)]) -> World {
        let app = App::start_with(config).await;
        let admin = staff(&app, "admin", "Admin", "x").await;
        let manager = staff(&app, "manager", "Manager", "x").await;
        let sales = staff(&app, "sales", "Sales", "x").await;
        let ops = staff(&app, "operations", "Ops", "x").await;
        let mate = staff(&app, "sales", "Mate", "x").await;
        let stranger = staff(&app, "sales", "Stranger", "x").await;
        let intake = app.token(TokenScope::Intake, None).await;
        let metrics = app.token(TokenScope::Metrics, None).await;
        let (code, team) = call(
            &app,
            "POST",
            "/api/v1/teams",
            Auth::Bearer(&admin.token),
            Some(&json!({"name": "Field", "member_ids": [ops.id, mate.id]})),
        )
        .await;
        assert_eq!(code, 201, "{team}");
        let team = TeamId::new(team["team"]["id"].as_str().unwrap());
        let mut customers = BTreeMap::new();
        for (c, name, phone, owner) in [
            (Cust::Mine, "Mine", "0532 111 00 01", Some(&sales.id)),
            (Cust::Theirs, "Theirs", "0532 111 00 02", Some(&stranger.id)),
            (Cust::Mates, "Mates", "0532 111 00 03", Some(&mate.id)),
            (Cust::Pool, "Pool", "0532 111 00 04", None),
        ] {
            let id = customer(&app, &intake, name, phone).await;
            if let Some(owner) = owner {
                let (code, body) = call(
                    &app,
                    "PATCH",
                    &format!("/api/v1/customers/{id}"),
                    Auth::Bearer(&admin.token),
                    Some(&json!({"owner_id": owner})),
                )
                .await;
                assert_eq!(code, 200, "{body}");
                assert_eq!(body["owner_id"], json!(owner));
            }
            customers.insert(c, id);
        }
        World {
            app,
            admin,
            manager,
            sales,
            ops,
            mate,
            stranger,
            intake,
            metrics,
            team,
            customers,
        }
    }

    fn id(&self, c: Cust) -> &CustomerId {
        &self.customers[&c]
    }

    fn name_of(&self, id: &str) -> String {
        self.customers
            .iter()
            .find(|(_, v)| v.as_str() == id)
            .map(|(k, _)| format!("{k:?}"))
            .unwrap_or_else(|| id.to_string())
    }

    async fn assign(&self, c: Cust, body: Value) {
        let (code, b) = call(
            &self.app,
            "PATCH",
            &format!("/api/v1/customers/{}", self.id(c)),
            Auth::Bearer(&self.admin.token),
            Some(&body),
        )
        .await;
        assert_eq!(code, 200, "{b}");
    }

    async fn move_card(&self, id: &CustomerId, stage: &str) {
        let (code, b) = call(
            &self.app,
            "POST",
            &format!("/api/v1/customers/{id}/move"),
            Auth::Bearer(&self.admin.token),
            Some(&json!({"stage_id": stage})),
        )
        .await;
        assert_eq!(code, 200, "{b}");
        assert_eq!(b["moved"], true, "{b}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Manager,
    Sales,
    Ops,
    /// A service token of scope intake.
    Intake,
    /// A service token of scope metrics.
    Metrics,
    /// No credentials.
    Nobody,
}

/// What a row expects back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    St(u16),
    /// 200, and `/items` holds exactly these customers.
    Sees(&'static [Cust]),
    /// 200, and the value at the JSON pointer is this (placeholders filled).
    Is(&'static str, &'static str),
    /// 200, and every item of `/items` has this field so (`*`: has it at
    /// all), and there is one.
    Every(&'static str, &'static str),
}

use Cust::*;
use Expect::*;
use Who::*;

type Row = (Who, &'static str, &'static str, Cust, &'static str, Expect);

/// Every `/api/v1` route of the access layer (and the intake, metrics and
/// inbound-event routes) for each kind of caller, on customers in and out
/// of scope. `{c}` is the row's customer; `{n}` the row's number.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    // Who am I: any full-scope caller.
    (Admin, "GET", "/api/v1/me", Na, "", Is("/role_id", "admin")),
    (Manager, "GET", "/api/v1/me", Na, "", Is("/role_id", "manager")),
    (Sales, "GET", "/api/v1/me", Na, "", Is("/user/id", "{sales}")),
    (Ops, "GET", "/api/v1/me", Na, "", Is("/role_id", "operations")),
    (Intake, "GET", "/api/v1/me", Na, "", St(403)),
    (Metrics, "GET", "/api/v1/me", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/me", Na, "", St(401)),
    // Users: view for admin and manager, edit and manage for admin only.
    (Admin, "GET", "/api/v1/users", Na, "", St(200)),
    (Manager, "GET", "/api/v1/users", Na, "", St(200)),
    (Sales, "GET", "/api/v1/users", Na, "", St(403)),
    (Ops, "GET", "/api/v1/users", Na, "", St(403)),
    (Intake, "GET", "/api/v1/users", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/users", Na, "", St(401)),
    (Admin, "POST", "/api/v1/users", Na, NEW_USER, Is("/user/role_id", "sales")),
    (Manager, "POST", "/api/v1/users", Na, NEW_USER, St(403)),
    (Sales, "POST", "/api/v1/users", Na, NEW_USER, St(403)),
    (Ops, "POST", "/api/v1/users", Na, NEW_USER, St(403)),
    (Nobody, "POST", "/api/v1/users", Na, NEW_USER, St(401)),
    (Admin, "PATCH", "/api/v1/users/{target}", Na, RENAME, Is("/user/name", "Renamed")),
    (Manager, "PATCH", "/api/v1/users/{target}", Na, RENAME, St(403)),
    (Sales, "PATCH", "/api/v1/users/{target}", Na, RENAME, St(403)),
    (Ops, "PATCH", "/api/v1/users/{target}", Na, RENAME, St(403)),
    (Sales, "PATCH", "/api/v1/users/{sales}", Na, PROMOTE, St(403)),
    (Admin, "POST", "/api/v1/users/{leaver}/offboard", Na, TO_ADMIN, Is("/summary/customers", "0")),
    (Manager, "POST", "/api/v1/users/{leaver}/offboard", Na, TO_ADMIN, St(403)),
    (Sales, "POST", "/api/v1/users/{leaver}/offboard", Na, TO_ADMIN, St(403)),
    (Ops, "POST", "/api/v1/users/{leaver}/offboard", Na, TO_ADMIN, St(403)),
    (Intake, "POST", "/api/v1/users/{leaver}/offboard", Na, TO_ADMIN, St(403)),
    // Teams.
    (Admin, "GET", "/api/v1/teams", Na, "", St(200)),
    (Manager, "GET", "/api/v1/teams", Na, "", St(200)),
    (Sales, "GET", "/api/v1/teams", Na, "", St(403)),
    (Ops, "GET", "/api/v1/teams", Na, "", St(403)),
    (Admin, "POST", "/api/v1/teams", Na, NEW_TEAM, Is("/team/name", "Matrix")),
    (Manager, "POST", "/api/v1/teams", Na, NEW_TEAM, St(403)),
    (Ops, "POST", "/api/v1/teams", Na, NEW_TEAM, St(403)),
    (Admin, "PUT", "/api/v1/teams/{team}", Na, SAME_TEAM, Is("/team/id", "{team}")),
    (Manager, "PUT", "/api/v1/teams/{team}", Na, SAME_TEAM, St(403)),
    (Ops, "PUT", "/api/v1/teams/{team}", Na, SAME_TEAM, St(403)),
    (Nobody, "PUT", "/api/v1/teams/{team}", Na, SAME_TEAM, St(401)),
    // Roles: read with users view, edit with users manage; admin is fixed.
    (Admin, "GET", "/api/v1/roles", Na, "", Is("/items/0/id", "admin")),
    (Manager, "GET", "/api/v1/roles", Na, "", St(200)),
    (Sales, "GET", "/api/v1/roles", Na, "", St(403)),
    (Ops, "GET", "/api/v1/roles", Na, "", St(403)),
    (Admin, "PUT", "/api/v1/roles/matrix", Na, ROLE, Is("/role/id", "matrix")),
    (Admin, "PUT", "/api/v1/roles/admin", Na, ROLE, St(422)),
    (Manager, "PUT", "/api/v1/roles/sales", Na, ROLE, St(403)),
    (Sales, "PUT", "/api/v1/roles/sales", Na, ROLE, St(403)),
    // The audit log: settings manage.
    (Admin, "GET", "/api/v1/audit", Na, "", St(200)),
    (Manager, "GET", "/api/v1/audit", Na, "", St(403)),
    (Sales, "GET", "/api/v1/audit", Na, "", St(403)),
    (Ops, "GET", "/api/v1/audit", Na, "", St(403)),
    (Metrics, "GET", "/api/v1/audit", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/audit", Na, "", St(401)),
    // One's own tokens.
    (Admin, "GET", "/api/v1/tokens", Na, "", Every("user_id", "{admin}")),
    (Manager, "GET", "/api/v1/tokens", Na, "", Every("user_id", "{manager}")),
    (Sales, "GET", "/api/v1/tokens", Na, "", Every("user_id", "{sales}")),
    (Ops, "GET", "/api/v1/tokens", Na, "", Every("user_id", "{ops}")),
    (Intake, "GET", "/api/v1/tokens", Na, "", St(403)),
    (Metrics, "GET", "/api/v1/tokens", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/tokens", Na, "", St(401)),
    (Admin, "POST", "/api/v1/tokens", Na, TOKEN, Is("/scope", "full")),
    (Manager, "POST", "/api/v1/tokens", Na, TOKEN, St(201)),
    (Sales, "POST", "/api/v1/tokens", Na, TOKEN, St(201)),
    (Ops, "POST", "/api/v1/tokens", Na, TOKEN, St(201)),
    (Intake, "POST", "/api/v1/tokens", Na, TOKEN, St(403)),
    (Nobody, "POST", "/api/v1/tokens", Na, TOKEN, St(401)),
    (Sales, "DELETE", "/api/v1/tokens/{admin_spare}", Na, "", St(404)),
    (Sales, "DELETE", "/api/v1/tokens/{sales_spare}", Na, "", Is("/revoked", "true")),
    (Admin, "DELETE", "/api/v1/tokens/{admin_spare}", Na, "", Is("/revoked", "true")),
    (Intake, "DELETE", "/api/v1/tokens/{admin_spare}", Na, "", St(403)),
    (Nobody, "DELETE", "/api/v1/tokens/{admin_spare}", Na, "", St(401)),
    // Who holds a customer: customers manage (admin, manager).
    (Admin, "PATCH", "/api/v1/customers/{c}", Pool, "{}", Is("/customer_id", "{c}")),
    (Manager, "PATCH", "/api/v1/customers/{c}", Theirs, "{}", Is("/owner_id", "{stranger}")),
    (Sales, "PATCH", "/api/v1/customers/{c}", Mine, "{}", St(403)),
    (Ops, "PATCH", "/api/v1/customers/{c}", Mates, "{}", St(403)),
    (Intake, "PATCH", "/api/v1/customers/{c}", Mine, "{}", St(403)),
    (Nobody, "PATCH", "/api/v1/customers/{c}", Mine, "{}", St(401)),
    // Customer lists, filtered by scope in SQL.
    (Admin, "GET", "/api/v1/customers", Na, "", Sees(ALL)),
    (Manager, "GET", "/api/v1/customers", Na, "", Sees(ALL)),
    (Sales, "GET", "/api/v1/customers", Na, "", Sees(&[Mine])),
    (Ops, "GET", "/api/v1/customers", Na, "", Sees(&[Mates, Pool])),
    (Sales, "GET", "/api/v1/customers?q=Theirs", Na, "", Sees(&[])),
    (Manager, "GET", "/api/v1/customers?q=Theirs", Na, "", Sees(&[Theirs])),
    (Ops, "GET", "/api/v1/customers?phone=05321110001", Na, "", Sees(&[])),
    (Intake, "GET", "/api/v1/customers", Na, "", St(403)),
    (Metrics, "GET", "/api/v1/customers", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/customers", Na, "", St(401)),
    // One customer: out of scope is not found.
    (Admin, "GET", "/api/v1/customers/{c}", Mine, "", Is("/id", "{c}")),
    (Admin, "GET", "/api/v1/customers/{c}", Theirs, "", Is("/id", "{c}")),
    (Admin, "GET", "/api/v1/customers/{c}", Mates, "", Is("/id", "{c}")),
    (Admin, "GET", "/api/v1/customers/{c}", Pool, "", Is("/id", "{c}")),
    (Manager, "GET", "/api/v1/customers/{c}", Mine, "", Is("/id", "{c}")),
    (Manager, "GET", "/api/v1/customers/{c}", Theirs, "", Is("/id", "{c}")),
    (Manager, "GET", "/api/v1/customers/{c}", Mates, "", Is("/id", "{c}")),
    (Manager, "GET", "/api/v1/customers/{c}", Pool, "", Is("/id", "{c}")),
    (Sales, "GET", "/api/v1/customers/{c}", Mine, "", Is("/id", "{c}")),
    (Sales, "GET", "/api/v1/customers/{c}", Theirs, "", St(404)),
    (Sales, "GET", "/api/v1/customers/{c}", Mates, "", St(404)),
    (Sales, "GET", "/api/v1/customers/{c}", Pool, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}", Mine, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}", Theirs, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}", Mates, "", Is("/id", "{c}")),
    (Ops, "GET", "/api/v1/customers/{c}", Pool, "", Is("/id", "{c}")),
    (Intake, "GET", "/api/v1/customers/{c}", Mine, "", St(403)),
    (Metrics, "GET", "/api/v1/customers/{c}", Mine, "", St(403)),
    (Nobody, "GET", "/api/v1/customers/{c}", Mine, "", St(401)),
    (Sales, "GET", "/api/v1/customers/no-such-customer", Na, "", St(404)),
    // Its timeline.
    (Admin, "GET", "/api/v1/customers/{c}/timeline", Pool, "", St(200)),
    (Manager, "GET", "/api/v1/customers/{c}/timeline", Theirs, "", St(200)),
    (Sales, "GET", "/api/v1/customers/{c}/timeline", Mine, "", Every("kind", "*")),
    (Sales, "GET", "/api/v1/customers/{c}/timeline", Theirs, "", St(404)),
    (Sales, "GET", "/api/v1/customers/{c}/timeline", Pool, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}/timeline", Mates, "", St(200)),
    (Ops, "GET", "/api/v1/customers/{c}/timeline", Pool, "", St(200)),
    (Ops, "GET", "/api/v1/customers/{c}/timeline", Mine, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}/timeline", Theirs, "", St(404)),
    (Intake, "GET", "/api/v1/customers/{c}/timeline", Mine, "", St(403)),
    (Nobody, "GET", "/api/v1/customers/{c}/timeline", Mine, "", St(401)),
    // Its conversations.
    (Admin, "GET", "/api/v1/customers/{c}/conversations", Pool, "", St(200)),
    (Manager, "GET", "/api/v1/customers/{c}/conversations", Theirs, "", St(200)),
    (Sales, "GET", "/api/v1/customers/{c}/conversations", Mine, "", St(200)),
    (Sales, "GET", "/api/v1/customers/{c}/conversations", Theirs, "", St(404)),
    (Sales, "GET", "/api/v1/customers/{c}/conversations", Pool, "", St(404)),
    (Ops, "GET", "/api/v1/customers/{c}/conversations", Mates, "", St(200)),
    (Ops, "GET", "/api/v1/customers/{c}/conversations", Pool, "", St(200)),
    (Ops, "GET", "/api/v1/customers/{c}/conversations", Theirs, "", St(404)),
    (Metrics, "GET", "/api/v1/customers/{c}/conversations", Mine, "", St(403)),
    (Nobody, "GET", "/api/v1/customers/{c}/conversations", Mine, "", St(401)),
    // Card moves: pipeline edit on that customer.
    (Admin, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, Is("/customer/id", "{c}")),
    (Manager, "POST", "/api/v1/customers/{c}/move", Theirs, MOVE, Is("/customer/id", "{c}")),
    (Sales, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, Is("/customer/id", "{c}")),
    (Sales, "POST", "/api/v1/customers/{c}/move", Theirs, MOVE, St(404)),
    (Sales, "POST", "/api/v1/customers/{c}/move", Mates, MOVE, St(404)),
    (Sales, "POST", "/api/v1/customers/{c}/move", Pool, MOVE, St(404)),
    (Ops, "POST", "/api/v1/customers/{c}/move", Mates, MOVE, Is("/customer/id", "{c}")),
    (Ops, "POST", "/api/v1/customers/{c}/move", Pool, MOVE, Is("/customer/id", "{c}")),
    (Ops, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, St(404)),
    (Ops, "POST", "/api/v1/customers/{c}/move", Theirs, MOVE, St(404)),
    (Intake, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, St(403)),
    (Metrics, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, St(403)),
    (Nobody, "POST", "/api/v1/customers/{c}/move", Mine, MOVE, St(401)),
    // The pipelines: read with the customers.
    (Sales, "GET", "/api/v1/pipelines", Na, "", St(200)),
    (Intake, "GET", "/api/v1/pipelines", Na, "", St(403)),
    // Inbound events: settings edit (admin, manager).
    (Admin, "GET", "/api/v1/inbound-events", Na, "", St(200)),
    (Manager, "GET", "/api/v1/inbound-events", Na, "", St(200)),
    (Sales, "GET", "/api/v1/inbound-events", Na, "", St(403)),
    (Ops, "GET", "/api/v1/inbound-events", Na, "", St(403)),
    (Intake, "GET", "/api/v1/inbound-events", Na, "", St(403)),
    (Metrics, "GET", "/api/v1/inbound-events", Na, "", St(403)),
    (Nobody, "GET", "/api/v1/inbound-events", Na, "", St(401)),
    // Metrics: settings manage, or a metrics token.
    (Admin, "GET", "/metrics", Na, "", St(200)),
    (Metrics, "GET", "/metrics", Na, "", St(200)),
    (Manager, "GET", "/metrics", Na, "", St(403)),
    (Sales, "GET", "/metrics", Na, "", St(403)),
    (Ops, "GET", "/metrics", Na, "", St(403)),
    (Intake, "GET", "/metrics", Na, "", St(403)),
    (Nobody, "GET", "/metrics", Na, "", St(401)),
    // Lead intake: customers create, or an intake token.
    (Intake, "POST", "/intake/leads", Na, LEAD, Is("/duplicate", "false")),
    (Admin, "POST", "/intake/leads", Na, LEAD, St(202)),
    (Sales, "POST", "/intake/leads", Na, LEAD, St(202)),
    (Ops, "POST", "/intake/leads", Na, LEAD, St(202)),
    (Metrics, "POST", "/intake/leads", Na, LEAD, St(403)),
    (Nobody, "POST", "/intake/leads", Na, LEAD, St(401)),
];

const NEW_USER: &str = r#"{"email": "new{n}@example.com", "name": "New {n}", "role_id": "sales", "password": "a long passphrase 42"}"#;
const RENAME: &str = r#"{"name": "Renamed"}"#;
const PROMOTE: &str = r#"{"role_id": "admin"}"#;
const TO_ADMIN: &str = r#"{"to_user_id": "{admin}"}"#;
const NEW_TEAM: &str = r#"{"name": "Matrix"}"#;
const SAME_TEAM: &str = r#"{"name": "Field", "member_ids": ["{ops}", "{mate}"]}"#;
const ROLE: &str = r#"{"name": "Matrix", "grants": {"modules": {"customers": {"actions": ["view"], "scope": "own"}}, "unassigned_pool": false}}"#;
const TOKEN: &str = r#"{"name": "laptop {n}"}"#;
const MOVE: &str = r#"{"stage_id": "st_default_2"}"#;
const LEAD: &str = r#"{"name": "Lead {n}", "phone": "0533 200 0{n}", "external_id": "row-{n}"}"#;

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_matrix() {
    let w = World::build(&[]).await;
    let app = &w.app;
    let (target, _) = app.user_with("sales", "Target", "x").await;
    let (leaver, _) = app.user_with("sales", "Leaver", "x").await;
    let (admin_spare, _) = app
        .store
        .create_token("spare", Some(&w.admin.id), TokenScope::Full)
        .await
        .unwrap();
    let (sales_spare, _) = app
        .store
        .create_token("spare", Some(&w.sales.id), TokenScope::Full)
        .await
        .unwrap();
    let fill = |s: &str, c: Cust, n: usize| {
        let mut s = s
            .replace("{n}", &format!("{n:03}"))
            .replace("{admin}", w.admin.id.as_str())
            .replace("{manager}", w.manager.id.as_str())
            .replace("{sales}", w.sales.id.as_str())
            .replace("{ops}", w.ops.id.as_str())
            .replace("{mate}", w.mate.id.as_str())
            .replace("{stranger}", w.stranger.id.as_str())
            .replace("{target}", target.as_str())
            .replace("{leaver}", leaver.as_str())
            .replace("{team}", w.team.as_str())
            .replace("{admin_spare}", admin_spare.as_str())
            .replace("{sales_spare}", sales_spare.as_str());
        if c != Na {
            s = s.replace("{c}", w.id(c).as_str());
        }
        s
    };
    let mut failures = Vec::new();
    for (n, (who, method, route, c, body, expect)) in MATRIX.iter().enumerate() {
        let path = fill(route, *c, n);
        let body: Option<Value> =
            (!body.is_empty()).then(|| serde_json::from_str(&fill(body, *c, n)).unwrap());
        let auth = match who {
            Admin => Auth::Bearer(&w.admin.token),
            Manager => Auth::Bearer(&w.manager.token),
            Sales => Auth::Bearer(&w.sales.token),
            Ops => Auth::Bearer(&w.ops.token),
            Intake => Auth::Bearer(&w.intake),
            Metrics => Auth::Bearer(&w.metrics),
            Nobody => Auth::Nobody,
        };
        let (status, got) = call(app, method, &path, auth, body.as_ref()).await;
        let row = format!("#{n} {who:?} {method} {route} {c:?}");
        let problem = match expect {
            St(want) if status != *want => Some(format!("status {status}, want {want}: {got}")),
            St(want) if *want >= 400 => {
                let code = got["code"].as_str().unwrap_or_default();
                let want_code = match want {
                    401 => "unauthorized",
                    403 => "forbidden",
                    404 => "not_found",
                    _ => code,
                };
                (code != want_code).then(|| format!("code {code}, want {want_code}: {got}"))
            }
            St(_) => None,
            _ if status >= 300 => Some(format!("status {status}, want success: {got}")),
            Sees(want) => {
                let mut ids: Vec<String> = got["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| w.name_of(i["id"].as_str().unwrap()))
                    .collect();
                ids.sort();
                let mut want: Vec<String> = want.iter().map(|c| format!("{c:?}")).collect();
                want.sort();
                (ids != want).then(|| format!("saw {ids:?}, want {want:?}"))
            }
            Is(pointer, want) => {
                let want = fill(want, *c, n);
                let at = got.pointer(pointer).map(as_text);
                (at.as_deref() != Some(want.as_str()))
                    .then(|| format!("{pointer} is {at:?}, want {want}: {got}"))
            }
            Every(field, want) => {
                let want = fill(want, *c, n);
                let items = got["items"].as_array().cloned().unwrap_or_default();
                let bad = items.is_empty()
                    || items.iter().any(|i| {
                        i.get(*field)
                            .map(as_text)
                            .is_none_or(|v| want != "*" && v != want)
                    });
                bad.then(|| format!("every item's {field} should be {want}: {got}"))
            }
        };
        if let Some(p) = problem {
            failures.push(format!("{row}: {p}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        MATRIX.len(),
        failures.join("\n")
    );
    // The rows that changed something did: the renamed user, the offboarded
    // leaver (disabled, though they held nothing), the revoked spare tokens.
    assert_eq!(
        app.store.user(&target).await.unwrap().name.as_deref(),
        Some("Renamed")
    );
    assert!(!app.store.user(&leaver).await.unwrap().active);
    let revoked = app.store.list_tokens(Some(&w.sales.id)).await.unwrap();
    assert!(
        revoked
            .iter()
            .any(|t| t.id == sales_spare && t.revoked_at.is_some())
    );
    w.app.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the event stream with the token in the `Authorization` header, or
/// in `?access_token=` when `in_url`.
async fn open_stream(app: &App, token: &str, in_url: bool) -> Ws {
    let base = app.base.replace("http://", "ws://");
    let mut req = if in_url {
        format!("{base}/api/v1/events?access_token={token}")
            .into_client_request()
            .unwrap()
    } else {
        let mut r = format!("{base}/api/v1/events")
            .into_client_request()
            .unwrap();
        r.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    };
    req.headers_mut()
        .insert("user-agent", "access-test".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.to_text().unwrap().contains("stream.open"), "{first}");
    ws
}

/// The (kind, customer) of every event the socket gets until `marker`'s
/// event arrives (within a deadline), and for a short settle after it;
/// the marker's own events and the stream's notices left out.
async fn events_until(w: &World, ws: &mut Ws, marker: &CustomerId) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut settle: Option<Instant> = None;
    let mut got = Vec::new();
    loop {
        let until = settle.unwrap_or(deadline);
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) if settle.is_some() => break,
            Err(_) => panic!("the marker event never came; got {got:?}"),
            Ok(Some(Ok(Message::Text(t)))) => {
                let ev: Value = serde_json::from_str(&t).unwrap();
                let kind = ev["kind"].as_str().unwrap().to_string();
                if kind.starts_with("stream.") {
                    continue;
                }
                let customer = ev["customer_id"].as_str().unwrap_or_default();
                if customer == marker.as_str() {
                    settle.get_or_insert_with(|| Instant::now() + Duration::from_millis(500));
                    continue;
                }
                got.push((kind, w.name_of(customer)));
            }
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("the stream ended: {other:?}"),
        }
    }
    got.sort();
    got
}

fn evs(list: &[(&str, Cust)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(k, c)| (k.to_string(), format!("{c:?}")))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_reach_only_those_who_may_see_the_customer() {
    let w = World::build(&[]).await;
    // A customer all three watchers see (sales owns it, the operations
    // user's teammate is assigned): its moves end each phase.
    let marker = customer(&w.app, &w.intake, "Marker", "0532 111 00 09").await;
    let (code, b) = call(
        &w.app,
        "PATCH",
        &format!("/api/v1/customers/{marker}"),
        Auth::Bearer(&w.admin.token),
        Some(&json!({"owner_id": w.sales.id, "assignee_ids": [w.mate.id]})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let mut sales = open_stream(&w.app, &w.sales.token, false).await;
    let mut ops = open_stream(&w.app, &w.ops.token, true).await;
    let mut manager = open_stream(&w.app, &w.manager.token, false).await;
    let moved = "card.moved";
    let assigned = "customer.assigned";

    // Phase 1: every card moves.
    for c in ALL {
        w.move_card(w.id(*c), "st_default_2").await;
    }
    w.move_card(&marker, "st_default_2").await;
    assert_eq!(
        events_until(&w, &mut sales, &marker).await,
        evs(&[(moved, Mine)])
    );
    assert_eq!(
        events_until(&w, &mut ops, &marker).await,
        evs(&[(moved, Mates), (moved, Pool)])
    );
    assert_eq!(
        events_until(&w, &mut manager, &marker).await,
        evs(&[
            (moved, Mine),
            (moved, Theirs),
            (moved, Mates),
            (moved, Pool)
        ])
    );

    // Phase 2: sales loses its customer and gains the stranger's; the pool
    // customer goes to the stranger. Who lost a customer hears of it too
    // (so a board can drop the card), who never saw it does not.
    w.assign(Mine, json!({"owner_id": w.stranger.id})).await;
    w.assign(Theirs, json!({"owner_id": w.sales.id})).await;
    w.assign(Pool, json!({"owner_id": w.stranger.id})).await;
    w.move_card(&marker, "st_default_1").await;
    assert_eq!(
        events_until(&w, &mut sales, &marker).await,
        evs(&[(assigned, Mine), (assigned, Theirs)])
    );
    assert_eq!(
        events_until(&w, &mut ops, &marker).await,
        evs(&[(assigned, Pool)])
    );
    assert_eq!(
        events_until(&w, &mut manager, &marker).await,
        evs(&[(assigned, Mine), (assigned, Theirs), (assigned, Pool)])
    );

    // Phase 3: after the reassignment the new scopes hold.
    for c in ALL {
        w.move_card(w.id(*c), "st_default_3").await;
    }
    w.move_card(&marker, "st_default_2").await;
    assert_eq!(
        events_until(&w, &mut sales, &marker).await,
        evs(&[(moved, Theirs)])
    );
    assert_eq!(
        events_until(&w, &mut ops, &marker).await,
        evs(&[(moved, Mates)])
    );
    assert_eq!(
        events_until(&w, &mut manager, &marker).await,
        evs(&[
            (moved, Mine),
            (moved, Theirs),
            (moved, Mates),
            (moved, Pool)
        ])
    );

    // Narrow tokens and no token do not open the stream.
    for (token, status) in [(Some(&w.intake), 403), (Some(&w.metrics), 403), (None, 401)] {
        let mut req = format!("{}/api/v1/events", w.app.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        if let Some(t) = token {
            req.headers_mut()
                .insert("authorization", format!("Bearer {t}").parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), status),
            other => panic!("the stream opened for a caller who may not: {other:?}"),
        }
    }
    w.app.stop().await;
}

fn expect_invalid(r: Result<(UserId, crm_store::NewSession), SignInError>, what: &str) {
    assert!(
        matches!(r, Err(SignInError::Invalid)),
        "{what}: {:?}",
        r.map(|(u, _)| u)
    );
}

fn expect_throttled(r: Result<(UserId, crm_store::NewSession), SignInError>) -> (i64, String) {
    match r {
        Err(e @ SignInError::Throttled { wait_ms }) => (wait_ms, e.to_string()),
        other => panic!("expected throttled, got {:?}", other.map(|(u, _)| u)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_sign_in_throttling_and_the_audit_log() {
    let w = World::build(&[("CRM_LOGIN_LIMIT_PER_IP", "8")]).await;
    let app = &w.app;
    let st = &app.state;
    let hash = hash_password(PASSWORD).unwrap();
    // Nothing of these may ever reach the audit log.
    let mut secrets: Vec<String> = vec![PASSWORD.into(), WRONG.into(), hash.clone()];
    for s in [&w.admin, &w.manager, &w.sales, &w.ops, &w.mate, &w.stranger] {
        secrets.push(s.token.clone());
    }
    let admin = Auth::Bearer(&w.admin.token);

    // A session: reads freely; a change needs its CSRF token from this site.
    let alice = staff(app, "sales", "Alice", &hash).await;
    let s = app
        .store
        .create_session(&alice.id, None, &Origin::default())
        .await
        .unwrap();
    secrets.extend([s.cookie.clone(), s.csrf.clone()]);
    let session = |csrf, origin| Auth::Session {
        cookie: &s.cookie,
        csrf,
        origin,
    };
    let (code, me) = call(app, "GET", "/api/v1/me", session(None, None), None).await;
    assert_eq!(code, 200, "{me}");
    assert_eq!(me["user"]["id"], json!(alice.id));
    let token_req = json!({"name": "from the browser"});
    let (code, e) = call(
        app,
        "POST",
        "/api/v1/tokens",
        session(None, None),
        Some(&token_req),
    )
    .await;
    assert_eq!((code, e["code"].as_str()), (403, Some("csrf")), "{e}");
    let forged = "0".repeat(64);
    let (code, e) = call(
        app,
        "POST",
        "/api/v1/tokens",
        session(Some(&forged), None),
        Some(&token_req),
    )
    .await;
    assert_eq!((code, e["code"].as_str()), (403, Some("csrf")), "{e}");
    let (code, made) = call(
        app,
        "POST",
        "/api/v1/tokens",
        session(Some(&s.csrf), None),
        Some(&token_req),
    )
    .await;
    assert_eq!(code, 201, "{made}");
    secrets.push(made["token"].as_str().unwrap().to_string());
    let (code, e) = call(
        app,
        "POST",
        "/api/v1/tokens",
        session(Some(&s.csrf), Some("http://evil.example")),
        Some(&token_req),
    )
    .await;
    assert_eq!((code, e["code"].as_str()), (403, Some("csrf")), "{e}");
    let (code, made) = call(
        app,
        "POST",
        "/api/v1/tokens",
        session(Some(&s.csrf), Some(&app.base)),
        Some(&token_req),
    )
    .await;
    assert_eq!(code, 201, "this site's own Origin is fine: {made}");
    secrets.push(made["token"].as_str().unwrap().to_string());
    // A bearer token is never ambient: no CSRF token, any Origin.
    let (code, made) = call(
        app,
        "POST",
        "/api/v1/tokens",
        Auth::Bearer(&alice.token),
        Some(&token_req),
    )
    .await;
    assert_eq!(code, 201, "{made}");
    secrets.push(made["token"].as_str().unwrap().to_string());

    // The stream reads the cookie too: only from this site.
    let ws_url = format!("{}/api/v1/events", app.base.replace("http://", "ws://"));
    let ws_req = |origin: &str| {
        let mut r = ws_url.as_str().into_client_request().unwrap();
        r.headers_mut().insert(
            "cookie",
            format!("crm_session={}", s.cookie).parse().unwrap(),
        );
        r.headers_mut().insert("origin", origin.parse().unwrap());
        r
    };
    match tokio_tungstenite::connect_async(ws_req("http://evil.example")).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("another site opened the stream with the cookie: {other:?}"),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_req(&app.base))
        .await
        .unwrap();
    let first = ws.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("stream.open"));
    drop(ws);

    // Signing out everywhere ends the session.
    assert!(app.store.end_sessions_of(&alice.id).await.unwrap() >= 1);
    let (code, _) = call(app, "GET", "/api/v1/me", session(None, None), None).await;
    assert_eq!(code, 401);

    // Disabling a user stops their token and their session at once.
    let bob = staff(app, "sales", "Bob", &hash).await;
    let bob_s = app
        .store
        .create_session(&bob.id, None, &Origin::default())
        .await
        .unwrap();
    secrets.extend([bob_s.cookie.clone(), bob_s.csrf.clone()]);
    let bob_session = Auth::Session {
        cookie: &bob_s.cookie,
        csrf: None,
        origin: None,
    };
    assert_eq!(
        call(app, "GET", "/api/v1/me", bob_session, None).await.0,
        200
    );
    let (code, b) = call(
        app,
        "PATCH",
        &format!("/api/v1/users/{}", bob.id),
        admin,
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["user"]["active"], false);
    for (auth, what) in [
        (Auth::Bearer(&bob.token), "token"),
        (bob_session, "session"),
    ] {
        let (code, _) = call(app, "GET", "/api/v1/customers", auth, None).await;
        assert_eq!(code, 401, "a disabled user's {what}");
    }
    // And a disabled user cannot sign in, with the same answer as a typo.
    expect_invalid(
        sign_in(st, &bob.email, PASSWORD, &Origin::default(), None).await,
        "disabled",
    );

    // A role change (a privilege change) ends the user's sessions; their
    // token acts with the new role.
    let carol = staff(app, "sales", "Carol", &hash).await;
    let carol_s = app
        .store
        .create_session(&carol.id, None, &Origin::default())
        .await
        .unwrap();
    secrets.extend([carol_s.cookie.clone(), carol_s.csrf.clone()]);
    let carol_session = Auth::Session {
        cookie: &carol_s.cookie,
        csrf: None,
        origin: None,
    };
    assert_eq!(
        call(app, "GET", "/api/v1/me", carol_session, None).await.0,
        200
    );
    let (code, b) = call(
        app,
        "PATCH",
        &format!("/api/v1/users/{}", carol.id),
        admin,
        Some(&json!({"role_id": "operations"})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(
        call(app, "GET", "/api/v1/me", carol_session, None).await.0,
        401
    );
    let (code, me) = call(app, "GET", "/api/v1/me", Auth::Bearer(&carol.token), None).await;
    assert_eq!((code, me["role_id"].as_str()), (200, Some("operations")));

    // Signing in rotates the session: the browser's old cookie stops.
    let here = Origin {
        ip: Some("192.0.2.10".into()),
        user_agent: Some("access-test".into()),
    };
    let dave = staff(app, "sales", "Dave", &hash).await;
    let (who, first) = sign_in(st, &dave.email, PASSWORD, &here, None)
        .await
        .unwrap();
    assert_eq!(who, dave.id);
    let (who, second) = sign_in(
        st,
        &dave.email.to_uppercase(),
        PASSWORD,
        &here,
        Some(&first.cookie),
    )
    .await
    .unwrap();
    assert_eq!(who, dave.id, "e-mails are matched case-insensitively");
    assert_ne!(first.cookie, second.cookie);
    secrets.extend([
        first.cookie.clone(),
        first.csrf.clone(),
        second.cookie.clone(),
        second.csrf.clone(),
    ]);
    for (sess, want) in [(&first, 401), (&second, 200)] {
        let auth = Auth::Session {
            cookie: &sess.cookie,
            csrf: None,
            origin: None,
        };
        assert_eq!(call(app, "GET", "/api/v1/me", auth, None).await.0, want);
    }

    // No enumeration: an unknown e-mail and a wrong password answer alike,
    // in comparable time (an Argon2 verification each).
    let quiet = Origin::default();
    let erin = staff(app, "sales", "Erin", &hash).await;
    // The first unknown e-mail also builds the dummy hash: not measured.
    expect_invalid(
        sign_in(st, "warm-up@example.com", WRONG, &quiet, None).await,
        "warm-up",
    );
    let (mut unknown, mut wrong) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        let t = Instant::now();
        let r = sign_in(st, "nobody-here@example.com", PASSWORD, &quiet, None).await;
        unknown = unknown.min(t.elapsed());
        expect_invalid(r, "unknown e-mail");
        let t = Instant::now();
        let r = sign_in(st, &erin.email, WRONG, &quiet, None).await;
        wrong = wrong.min(t.elapsed());
        expect_invalid(r, "wrong password");
    }
    assert!(
        unknown * 5 >= wrong,
        "an unknown e-mail ({unknown:?}) answers much faster than a wrong password ({wrong:?})"
    );

    // Throttling: five failures for an account, and the sixth try waits
    // even with the right password.
    let office = Origin {
        ip: Some("198.51.100.7".into()),
        user_agent: None,
    };
    let frank = staff(app, "sales", "Frank", &hash).await;
    for i in 0..5 {
        expect_invalid(
            sign_in(st, &frank.email, WRONG, &office, None).await,
            &format!("failure {i}"),
        );
    }
    let (wait_ms, message) =
        expect_throttled(sign_in(st, &frank.email, PASSWORD, &office, None).await);
    assert!(wait_ms > 0 && wait_ms <= 15 * 60_000, "{wait_ms}");
    assert_eq!(wait_minutes(wait_ms), 15, "{wait_ms}");
    assert!(message.contains("15 minutes"), "{message}");
    // Another account from the same address goes on until the address's
    // limit (8 here; frank's 5 count toward it).
    let grace = staff(app, "sales", "Grace", &hash).await;
    let (who, _) = sign_in(st, &grace.email, PASSWORD, &office, None)
        .await
        .unwrap();
    assert_eq!(who, grace.id);
    for i in 0..3 {
        expect_invalid(
            sign_in(st, &grace.email, WRONG, &office, None).await,
            &format!("grace failure {i}"),
        );
    }
    let (wait_ms, _) = expect_throttled(sign_in(st, &grace.email, PASSWORD, &office, None).await);
    assert!(wait_ms > 0 && wait_ms <= 15 * 60_000, "{wait_ms}");
    // The address was throttled, not grace: from elsewhere she signs in.
    let (who, elsewhere) = sign_in(st, &grace.email, PASSWORD, &here, None)
        .await
        .unwrap();
    assert_eq!(who, grace.id);
    secrets.extend([elsewhere.cookie, elsewhere.csrf]);
    // Frank stays throttled wherever he comes from.
    expect_throttled(sign_in(st, &frank.email, PASSWORD, &here, None).await);

    // The audit log has it all, and no secret.
    let (code, log) = call(app, "GET", "/api/v1/audit?limit=500", admin, None).await;
    assert_eq!(code, 200, "{log}");
    let items = log["items"].as_array().unwrap();
    let actions: std::collections::BTreeSet<&str> =
        items.iter().filter_map(|e| e["action"].as_str()).collect();
    for a in [
        "sign_in",
        "sign_in.failed",
        "sign_in.throttled",
        "token.created",
        "user.disabled",
        "user.updated",
    ] {
        assert!(actions.contains(a), "no {a} in {actions:?}");
    }
    let disabled = items
        .iter()
        .find(|e| e["action"] == "user.disabled")
        .unwrap();
    assert_eq!(disabled["target"], format!("user:{}", bob.id));
    assert_eq!(disabled["actor"], format!("user:{}", w.admin.id));
    let throttled = items
        .iter()
        .find(|e| e["action"] == "sign_in.throttled")
        .unwrap();
    assert!(
        throttled["detail"]["wait_ms"]
            .as_i64()
            .is_some_and(|ms| ms > 0)
    );
    let text = log.to_string();
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the audit log holds a secret");
    }
    for e in [&frank.email, &grace.email, &erin.email] {
        assert!(!text.contains(e.as_str()), "a full e-mail in the audit log");
    }
    w.app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_hands_the_customers_over() {
    let w = World::build(&[]).await;
    let app = &w.app;
    // Sales owns Mine and is assigned to the teammate's customer.
    w.assign(Mates, json!({"assignee_ids": [w.sales.id]})).await;
    let (code, list) = call(
        app,
        "GET",
        "/api/v1/customers",
        Auth::Bearer(&w.sales.token),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let path = format!("/api/v1/users/{}/offboard", w.sales.id);
    let to = json!({"to_user_id": w.stranger.id});
    let (code, b) = call(app, "POST", &path, Auth::Bearer(&w.admin.token), Some(&to)).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["summary"]["customers"], 2, "{b}");
    assert_eq!(b["summary"]["tokens_revoked"], 1, "{b}");

    // The colleague holds them now.
    let (code, list) = call(
        app,
        "GET",
        "/api/v1/customers",
        Auth::Bearer(&w.stranger.token),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let mut seen: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| w.name_of(i["id"].as_str().unwrap()))
        .collect();
    seen.sort();
    assert_eq!(seen, ["Mates", "Mine", "Theirs"]);
    let (_, mine) = call(
        app,
        "GET",
        &format!("/api/v1/customers/{}", w.id(Mine)),
        Auth::Bearer(&w.stranger.token),
        None,
    )
    .await;
    assert_eq!(mine["owner_id"], json!(w.stranger.id));
    let (_, timeline) = call(
        app,
        "GET",
        &format!("/api/v1/customers/{}/timeline", w.id(Mine)),
        Auth::Bearer(&w.stranger.token),
        None,
    )
    .await;
    assert!(
        timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "customer.handed_over"),
        "{timeline}"
    );
    // The teammate still owns theirs; the operations user still sees it.
    let (code, _) = call(
        app,
        "GET",
        &format!("/api/v1/customers/{}", w.id(Mates)),
        Auth::Bearer(&w.ops.token),
        None,
    )
    .await;
    assert_eq!(code, 200);

    // The leaver is out.
    for p in ["/api/v1/me", "/api/v1/customers"] {
        let (code, _) = call(app, "GET", p, Auth::Bearer(&w.sales.token), None).await;
        assert_eq!(code, 401, "{p}");
    }
    // A second run finds nothing left to move.
    let (code, b) = call(app, "POST", &path, Auth::Bearer(&w.admin.token), Some(&to)).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["summary"]["customers"], 0, "{b}");
    assert_eq!(b["summary"]["was_disabled"], true, "{b}");
    // Handing work to a disabled colleague is refused.
    let back = json!({"to_user_id": w.sales.id});
    let (code, b) = call(
        app,
        "POST",
        &format!("/api/v1/users/{}/offboard", w.stranger.id),
        Auth::Bearer(&w.admin.token),
        Some(&back),
    )
    .await;
    assert_eq!(code, 422, "{b}");
    w.app.stop().await;
}

/// Waits for the server to end the stream; panics on a customer event
/// before that.
async fn stream_ends(ws: &mut Ws, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => panic!("{what}: the stream stayed open"),
            Ok(None | Some(Ok(Message::Close(_))) | Some(Err(_))) => return,
            Ok(Some(Ok(Message::Text(t)))) => {
                assert!(
                    t.contains("\"stream."),
                    "{what}: an event after the end: {t}"
                );
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_stream_follows_its_user() {
    let w = World::build(&[]).await;
    let app = &w.app;
    // A customer the operations user owns: the marker once they are sales.
    let marker = customer(app, &w.intake, "Marker", "0532 111 00 09").await;
    let (code, b) = call(
        app,
        "PATCH",
        &format!("/api/v1/customers/{marker}"),
        Auth::Bearer(&w.admin.token),
        Some(&json!({"owner_id": w.ops.id})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let mut manager = open_stream(app, &w.manager.token, false).await;
    let mut ops = open_stream(app, &w.ops.token, true).await;
    let mut sales = open_stream(app, &w.sales.token, false).await;
    let alice = staff(app, "sales", "Alice", "x").await;
    let s = app
        .store
        .create_session(&alice.id, None, &Origin::default())
        .await
        .unwrap();
    let mut req = format!("{}/api/v1/events", app.base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "cookie",
        format!("crm_session={}", s.cookie).parse().unwrap(),
    );
    let (mut browser, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert!(
        browser
            .next()
            .await
            .unwrap()
            .unwrap()
            .to_text()
            .unwrap()
            .contains("stream.open")
    );

    // The manager is disabled, the operations user becomes sales, the
    // sales user's token is revoked, the browser signs out everywhere.
    let admin = Auth::Bearer(&w.admin.token);
    let (code, b) = call(
        app,
        "PATCH",
        &format!("/api/v1/users/{}", w.manager.id),
        admin,
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let (code, b) = call(
        app,
        "PATCH",
        &format!("/api/v1/users/{}", w.ops.id),
        admin,
        Some(&json!({"role_id": "sales"})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let sales_token = app
        .store
        .list_tokens(Some(&w.sales.id))
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.revoked_at.is_none())
        .unwrap();
    assert!(app.store.revoke_token(&sales_token.id, None).await.unwrap());
    app.store.end_sessions_of(&alice.id).await.unwrap();
    // Longer than the stream takes to look at its callers again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for c in ALL {
        w.move_card(w.id(*c), "st_default_2").await;
    }
    w.move_card(&marker, "st_default_2").await;
    stream_ends(&mut manager, "a disabled user's").await;
    stream_ends(&mut sales, "a revoked token's").await;
    stream_ends(&mut browser, "an ended session's").await;
    // The operations user, now sales, sees only what they hold.
    assert_eq!(events_until(&w, &mut ops, &marker).await, evs(&[]));
    w.app.stop().await;
}
