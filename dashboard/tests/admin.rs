//! The administration pages end to end, in-process over a real SQLite file:
//! who may open them, the strict role form, sessions ended by a role change,
//! team name clashes, audit filters, a token shown once and revoked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use crm_api::{AppState, IntakeWriter, Services};
use crm_domain::access::{DataScope, Module};
use crm_domain::ids::{RoleId, UserId};
use crm_runtime::Config;
use crm_runtime::bus::EventBus;
use crm_runtime::metrics::Metrics;
use crm_runtime::queue::JobQueue;
use crm_store::{AuditFilter, Origin, Store};
use http_body_util::BodyExt;
use tower::ServiceExt;

struct App {
    router: axum::Router,
    store: Store,
    dir: std::path::PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A signed-in browser: the session cookie and its CSRF token.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

impl App {
    async fn start() -> App {
        let dir = std::env::temp_dir().join(format!("crm-admin-{}", crm_domain::util::new_id()));
        let vars: HashMap<&str, String> =
            HashMap::from([("CRM_DATA_DIR", dir.display().to_string())]);
        let config = Arc::new(Config::from_lookup(|k| vars.get(k).cloned()).unwrap());
        let store = Store::connect(&config.database_url).await.unwrap();
        store.migrate().await.unwrap();
        let queue = JobQueue::connect(&config.queue).await.unwrap();
        let metrics = Arc::new(Metrics::default());
        let (writer, _task) = IntakeWriter::spawn(
            store.clone(),
            queue.clone(),
            config.sweep_grace_ms,
            metrics.clone(),
        );
        let state = AppState::new(Services {
            store: store.clone(),
            queue,
            bus: EventBus::in_process(),
            config,
            metrics,
            writer,
            holders: Default::default(),
        });
        let router = crm_dashboard::router(&state).with_state(state);
        App { router, store, dir }
    }

    async fn user(&self, name: &str, role: &str) -> (UserId, Browser) {
        let email = format!("{}@example.com", name.to_lowercase());
        let role = RoleId::new(role);
        let id = self
            .store
            .create_user(crm_store::NewUser {
                email: &email,
                name: Some(name),
                password_hash: "x",
                role: &role,
                must_change_password: false,
            })
            .await
            .unwrap();
        let b = self.browser(&id).await;
        (id, b)
    }

    async fn browser(&self, id: &UserId) -> Browser {
        let s = self
            .store
            .create_session(id, None, &Origin::default())
            .await
            .unwrap();
        Browser {
            cookie: s.cookie,
            csrf: s.csrf,
        }
    }

    async fn send(&self, req: Request<Body>) -> Answer {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            location,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, b: &Browser, path: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::COOKIE, format!("crm_session={}", b.cookie))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Posts `fields` with the browser's CSRF token (unless `csrf` is false).
    async fn post(&self, b: &Browser, path: &str, fields: &[(&str, &str)], csrf: bool) -> Answer {
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        if csrf {
            pairs.insert(0, ("csrf", b.csrf.as_str()));
        }
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        self.send(
            Request::post(path)
                .header(header::COOKIE, format!("crm_session={}", b.cookie))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn audit_count(&self, action: crm_domain::audit::AuditAction) -> usize {
        self.store
            .audit_entries(&AuditFilter {
                action: Some(action),
                limit: 100,
                ..AuditFilter::default()
            })
            .await
            .unwrap()
            .items
            .len()
    }
}

#[tokio::test]
async fn roles_need_users_manage_and_the_matrix_is_saved_strictly() {
    use crm_domain::audit::AuditAction;
    let app = App::start().await;
    let (_, admin) = app.user("Ayşe Yılmaz", "admin").await;
    let (sales_id, sales) = app.user("Mehmet Öztürk", "sales").await;

    assert_eq!(
        app.get(&sales, "/admin/roles").await.status,
        StatusCode::FORBIDDEN
    );
    let page = app.get(&admin, "/admin/roles").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(r#"id="role-sales""#), "{}", page.body);
    assert!(
        page.body
            .contains(r#"name="g.settings.manage" checked disabled"#)
    );

    // Without the CSRF token nothing is written.
    let refused = app
        .post(&admin, "/admin/roles/sales", &[("name", "Sales")], false)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // An unknown module is refused with the field named, nothing written.
    let bad = app
        .post(
            &admin,
            "/admin/roles/sales",
            &[("name", "Sales"), ("g.cars.view", "on")],
            true,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("g.cars.view"), "{}", bad.body);
    assert_eq!(app.audit_count(AuditAction::RoleUpdated).await, 0);

    // A name another role has is sent back beside the field.
    let clash = app
        .post(
            &admin,
            "/admin/roles/sales",
            &[
                ("name", "MANAGER"),
                ("g.customers.view", "on"),
                ("scope.customers", "team"),
            ],
            true,
        )
        .await;
    assert_eq!(clash.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        clash.body.contains(r#"id="f-name-sales-error""#),
        "{}",
        clash.body
    );
    assert!(clash.body.contains(r#"value="MANAGER""#));

    // The admin role cannot be posted to.
    let admin_post = app
        .post(&admin, "/admin/roles/admin", &[("name", "Admin")], true)
        .await;
    assert_eq!(admin_post.status, StatusCode::FORBIDDEN);

    let saved = app
        .post(
            &admin,
            "/admin/roles/sales",
            &[
                ("name", "Satış"),
                ("g.customers.view", "on"),
                ("g.customers.edit", "on"),
                ("scope.customers", "team"),
                ("g.users.view", "on"),
                ("pool", "on"),
            ],
            true,
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(
        saved
            .location
            .starts_with("/admin/roles?saved=1&open=sales"),
        "{}",
        saved.location
    );
    let role = app.store.role(&RoleId::new("sales")).await.unwrap();
    assert_eq!(role.name, "Satış");
    assert_eq!(
        role.grants.grant(Module::Customers).unwrap().scope,
        DataScope::Team
    );
    assert!(role.grants.grant(Module::Pipeline).is_none());
    assert!(role.grants.unassigned_pool);
    assert_eq!(app.audit_count(AuditAction::RoleUpdated).await, 1);
    // The role's holders were signed out; the admin was not.
    let after = app.get(&sales, "/me/tokens").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location.starts_with("/login"), "{}", after.location);
    let toast = app.get(&admin, &saved.location).await;
    assert_eq!(toast.status, StatusCode::OK);
    assert!(toast.body.contains("toast-success"), "{}", toast.body);
    // With a new session the holder acts with the new grants: teams open now.
    let sales = app.browser(&sales_id).await;
    assert_eq!(app.get(&sales, "/admin/teams").await.status, StatusCode::OK);

    // A new role copies another's grants.
    let created = app
        .post(
            &admin,
            "/admin/roles",
            &[("name", "Saha ekibi"), ("copy_from", "sales")],
            true,
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let roles = app.store.list_roles().await.unwrap();
    let field = roles.iter().find(|r| r.name == "Saha ekibi").unwrap();
    assert_eq!(field.grants, role.grants);
    assert!(!field.builtin);
    assert_eq!(app.audit_count(AuditAction::RoleCreated).await, 1);
    let dup = app
        .post(
            &admin,
            "/admin/roles",
            &[("name", "saha EKİBİ"), ("copy_from", "")],
            true,
        )
        .await;
    assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(dup.body.contains(r#"id="f-name-error""#), "{}", dup.body);
}

#[tokio::test]
async fn teams_are_created_and_edited_with_name_clashes_beside_the_field() {
    use crm_domain::audit::AuditAction;
    let app = App::start().await;
    let (admin_id, admin) = app.user("Ayşe Yılmaz", "admin").await;
    let (mgr_id, manager) = app.user("Ali Demir", "manager").await;
    let (_, sales) = app.user("Şule Çağlar", "sales").await;

    assert_eq!(
        app.get(&sales, "/admin/teams").await.status,
        StatusCode::FORBIDDEN
    );
    let empty = app.get(&manager, "/admin/teams").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Henüz ekip yok"), "{}", empty.body);
    assert!(
        !empty.body.contains(r#"action="/admin/teams""#),
        "a manager only views"
    );
    let no = app
        .post(&manager, "/admin/teams", &[("name", "Depo")], true)
        .await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);

    let made = app
        .post(
            &admin,
            "/admin/teams",
            &[
                ("name", "İstanbul Satış"),
                ("lead", admin_id.as_str()),
                ("members", mgr_id.as_str()),
            ],
            true,
        )
        .await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let teams = app.store.list_teams().await.unwrap();
    assert_eq!(teams.len(), 1);
    let team = &teams[0];
    assert_eq!(team.lead_user_id.as_ref(), Some(&admin_id));
    assert!(team.member_ids.contains(&mgr_id) && team.member_ids.contains(&admin_id));
    assert_eq!(app.audit_count(AuditAction::TeamCreated).await, 1);

    let clash = app
        .post(&admin, "/admin/teams", &[("name", "istanbul satış")], true)
        .await;
    assert_eq!(clash.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        clash.body.contains("Bu adla başka bir ekip var."),
        "{}",
        clash.body
    );
    assert!(clash.body.contains(r#"value="istanbul satış""#));

    let path = format!("/admin/teams/{}", team.id);
    let edited = app
        .post(
            &admin,
            &path,
            &[
                ("name", "Anadolu Satış"),
                ("lead", ""),
                ("members", mgr_id.as_str()),
            ],
            true,
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.body);
    let team = app.store.list_teams().await.unwrap().remove(0);
    assert_eq!(team.name, "Anadolu Satış");
    assert_eq!(team.lead_user_id, None);
    assert_eq!(team.member_ids, vec![mgr_id.clone()]);
    assert_eq!(app.audit_count(AuditAction::TeamUpdated).await, 1);
    let unknown = app
        .post(
            &admin,
            &path,
            &[("name", "Anadolu Satış"), ("members", "nobody")],
            true,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = app
        .post(&admin, "/admin/teams/no-such-team", &[("name", "X")], true)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let list = app.get(&manager, "/admin/teams").await;
    assert!(list.body.contains("Anadolu Satış"));
    assert!(list.body.contains("Ali Demir"));
}

#[tokio::test]
async fn the_audit_log_filters_in_the_url_and_names_people() {
    let app = App::start().await;
    let (admin_id, admin) = app.user("Ayşe Yılmaz", "admin").await;
    let (_, manager) = app.user("Ali Demir", "manager").await;
    assert_eq!(
        app.get(&manager, "/admin/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let empty = app.get(&admin, "/admin/audit").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(
        empty.body.contains("Kayıtta henüz bir şey yok"),
        "{}",
        empty.body
    );

    app.post(
        &admin,
        "/me/tokens",
        &[("name", "Betik"), ("scope", "metrics")],
        true,
    )
    .await;
    app.post(&admin, "/admin/teams", &[("name", "Depo")], true)
        .await;
    let all = app.get(&admin, "/admin/audit").await;
    assert!(
        all.body.contains("Token oluşturuldu</span>"),
        "{}",
        all.body
    );
    assert!(all.body.contains("Ekip oluşturuldu</span>"));
    assert!(all.body.contains("Ekip: Depo"));
    assert!(all.body.contains("Ayşe Yılmaz"), "actors are named");
    assert!(all.body.contains("<time datetime=\""));

    let only = app.get(&admin, "/admin/audit?action=team.created").await;
    assert!(only.body.contains("Ekip oluşturuldu</span>"));
    assert!(!only.body.contains("Token oluşturuldu</span>"));
    assert!(
        only.body
            .contains(r#"<option value="team.created" selected>"#)
    );

    let who = app
        .get(&admin, &format!("/admin/audit?who=user%3A{admin_id}"))
        .await;
    assert!(who.body.contains("Token oluşturuldu</span>"));
    let nobody = app.get(&admin, "/admin/audit?who=user%3Anobody").await;
    assert!(
        nobody.body.contains("Bu süzgeçlere uyan kayıt yok"),
        "{}",
        nobody.body
    );

    let bad = app.get(&admin, "/admin/audit?action=launch.rockets").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains(r#"id="f-action-error""#));
    let cursor = app
        .get(&admin, "/admin/audit?action=team.created&cursor=junk")
        .await;
    assert_eq!(cursor.status, StatusCode::SEE_OTHER);
    assert_eq!(cursor.location, "/admin/audit?action=team.created");

    // Keyset paging: 55 failed sign-ins, 50 a page, the link keeps the filter.
    for i in 0..55 {
        app.store
            .audit(
                &crm_domain::audit::AuditRecord::new(
                    crm_domain::audit::AuditAction::SignInFailed,
                    "anonymous",
                )
                .ip(Some(format!("203.0.113.{i}"))),
            )
            .await
            .unwrap();
    }
    let first = app.get(&admin, "/admin/audit?action=sign_in.failed").await;
    let rows = |body: &str| body.matches("Oturum açılamadı</span>").count();
    assert_eq!(rows(&first.body), 50);
    let at = first.body.find(r#"rel="next""#).expect("an older link");
    let href_at = first.body[..at].rfind("href=\"").unwrap() + 6;
    let href = first.body[href_at..at]
        .trim_end()
        .trim_end_matches('"')
        .replace("&#38;", "&");
    assert!(
        href.starts_with("/admin/audit?action=sign_in.failed&cursor="),
        "{href}"
    );
    let second = app.get(&admin, &href).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(rows(&second.body), 5);
    assert!(!second.body.contains(r#"rel="next""#));
    assert!(second.body.contains("Bilinmeyen ziyaretçi"));
}

#[tokio::test]
async fn a_token_is_shown_once_and_only_its_owner_revokes_it() {
    use crm_domain::audit::AuditAction;
    let app = App::start().await;
    let (me, browser) = app.user("Gökçe Işık", "sales").await;
    let (_, other) = app.user("Emre Demirtaş", "sales").await;

    let empty = app.get(&browser, "/me/tokens").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert!(empty.body.contains("Henüz token yok"));

    let refused = app
        .post(
            &browser,
            "/me/tokens",
            &[("name", "  "), ("scope", "full")],
            true,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let odd = app
        .post(
            &browser,
            "/me/tokens",
            &[("name", "x"), ("scope", "root")],
            true,
        )
        .await;
    assert_eq!(odd.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.store.list_tokens(Some(&me)).await.unwrap().is_empty());

    let made = app
        .post(
            &browser,
            "/me/tokens",
            &[("name", "Web <form>"), ("scope", "intake")],
            true,
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let at = made.body.find(r#"id="new-token-value""#).unwrap();
    let value = &made.body[at..];
    let start = value.find("value=\"").unwrap() + 7;
    let secret = &value[start..start + value[start..].find('"').unwrap()];
    assert!(secret.len() > 20, "{secret}");
    assert_eq!(made.body.matches(secret).count(), 1);
    assert!(made.body.contains("Web &#60;form&#62;"));
    let principal = app.store.authenticate_token(secret).await.unwrap().unwrap();
    assert_eq!(principal.scope, crm_domain::auth::TokenScope::Intake);
    assert_eq!(app.audit_count(AuditAction::TokenCreated).await, 1);

    let later = app.get(&browser, "/me/tokens").await;
    assert!(!later.body.contains(secret), "never shown again");
    assert!(later.body.contains("Web &#60;form&#62;"));

    let tokens = app.store.list_tokens(Some(&me)).await.unwrap();
    let path = format!("/me/tokens/{}/revoke", tokens[0].id);
    let theirs = app.post(&other, &path, &[], true).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let revoked = app.post(&browser, &path, &[], true).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(revoked.location, "/me/tokens?revoked=1");
    assert!(
        app.store
            .authenticate_token(secret)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.audit_count(AuditAction::TokenRevoked).await, 1);
    let shown = app.get(&browser, &revoked.location).await;
    assert!(shown.body.contains("İptal edildi"), "{}", shown.body);
    assert!(!shown.body.contains(&format!(r#"action="{path}""#)));
}
