//! `GET /api/v1/events`: a WebSocket stream of domain events, for proving a
//! change made through one api process reaches a client of another (the
//! dashboard fan-out by topic builds on this). An event about a customer
//! reaches only callers who may see that customer (their role's grant and
//! scope over its owner and assignees, the same rule as every list; a
//! reassignment also reaches who could see it before, so their screens drop
//! it); the stream's own notices (`stream.*`: a gap after a bus reconnect, a slow
//! client's lag) reach all. The stream looks at its caller's credential
//! again every [`RECHECK`]: it ends once the token is revoked, the session
//! ended or the user disabled, and follows a change of role.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Extension, Query, State};
use axum::response::Response;
use axum::routing::get;
use crm_domain::access::{Action, Module, may};
use crm_domain::auth::{Permission, Principal, TokenScope};
use crm_domain::ids::UserId;
use crm_domain::model::{DomainEvent, EventKind};
use crm_domain::people::Holding;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::{Caller, Credential, TokenFrom, require};
use crate::error::ApiResult;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/events", get(events))
        .route_layer(require(
            state,
            Permission::StreamEvents.into(),
            TokenFrom::HeaderOrQuery,
        ))
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated kind prefixes (`customer.,card.moved`); all when absent.
    kinds: Option<String>,
}

/// How stale a stream's idea of its caller may get.
pub const RECHECK: Duration = Duration::from_secs(2);

pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
    Extension(credential): Extension<Credential>,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let kinds: Vec<String> = q
        .kinds
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let rx = st.bus.subscribe();
    let caller = caller.0;
    Ok(ws.on_upgrade(move |socket| pump(socket, rx, kinds, caller, credential, st)))
}

fn wanted(kinds: &[String], ev: &DomainEvent) -> bool {
    let kind = ev.kind.as_str();
    kind.starts_with("stream.")
        || kinds.is_empty()
        || kinds.iter().any(|k| kind.starts_with(k.as_str()))
}

/// Whether `caller` may see `ev`, given who holds its customer: the
/// stream's own notices reach everyone; an event without a customer needs
/// the customer read grant; one about a customer needs that customer in
/// the caller's scope of a module that shows it.
fn may_see(caller: &Principal, ev: &DomainEvent, holding: Option<&Holding>) -> bool {
    if ev.kind == EventKind::StreamGap {
        return true;
    }
    if caller.scope != TokenScope::Full {
        return false;
    }
    let modules = [Module::Customers, Module::Pipeline, Module::Inbox];
    let sees = |h: &Holding| {
        modules
            .iter()
            .any(|m| may(&caller.actor, *m, Action::View, Some(h.holders())))
    };
    match holding {
        None => ev.customer_id.is_none() && caller.may(Permission::ReadCustomers),
        // A reassignment also reaches who held the customer before, so
        // their screens can drop it.
        Some(h) => sees(h) || held_before(ev).is_some_and(|b| sees(&b)),
    }
}

/// Who held the customer before a reassignment (its event's `before`).
fn held_before(ev: &DomainEvent) -> Option<Holding> {
    if ev.kind != EventKind::CustomerAssigned {
        return None;
    }
    let before = ev.data.get("before")?;
    let owner = before
        .get("owner_id")
        .and_then(|v| v.as_str())
        .map(UserId::new);
    let assignees = before
        .get("assignee_ids")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(UserId::new)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Some(Holding::new(owner, assignees))
}

/// Who holds the event's customer, when it names one (`None` also when the
/// customer is gone: nobody may see events of a customer that is not there).
async fn holding_of(st: &AppState, ev: &DomainEvent) -> Result<Option<Holding>, ()> {
    let Some(id) = &ev.customer_id else {
        return Ok(None);
    };
    if ev.kind == EventKind::CustomerAssigned {
        st.holders.forget(id);
    }
    match st.holders.get(&st.store, id).await {
        Ok(h) => Ok(Some(h)),
        Err(e) => {
            tracing::warn!(error = %crm_domain::util::error_chain(&e), "stream: holders of a customer not read; event withheld");
            Err(())
        }
    }
}

/// Looks at the caller's credential again: their principal now, or `None`
/// when it no longer opens the stream (a store error ends it too: the
/// client reconnects, and is asked again).
async fn recheck(st: &AppState, credential: &Credential) -> Option<Principal> {
    match credential.principal(st).await {
        Ok(p) => p.filter(|p| p.may(Permission::StreamEvents)),
        Err(e) => {
            tracing::warn!(
                code = e.code,
                "stream: caller not checked again; stream ended"
            );
            None
        }
    }
}

async fn pump(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<DomainEvent>,
    kinds: Vec<String>,
    mut caller: Principal,
    credential: Credential,
    st: AppState,
) {
    if socket
        .send(Message::Text(r#"{"kind":"stream.open"}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    let mut checked = Instant::now();
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK, RECHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Before an event goes out, and on a quiet stream once a tick.
        let next = tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => Some(ev),
                Err(RecvError::Lagged(n)) => {
                    // A slow client: say how much it missed so it can refresh.
                    let msg = format!(r#"{{"kind":"stream.lagged","missed":{n}}}"#);
                    if socket.send(Message::Text(msg.into())).await.is_err() { break; }
                    None
                }
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => None,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
        };
        if checked.elapsed() >= RECHECK {
            match recheck(&st, &credential).await {
                Some(p) => {
                    caller = p;
                    checked = Instant::now();
                }
                None => {
                    let bye = CloseFrame {
                        code: close_code::POLICY,
                        reason: "signed out".into(),
                    };
                    let _ = socket.send(Message::Close(Some(bye))).await;
                    break;
                }
            }
        }
        let Some(ev) = next else { continue };
        if !wanted(&kinds, &ev) {
            continue;
        }
        let Ok(holding) = holding_of(&st, &ev).await else {
            continue;
        };
        if !may_see(&caller, &ev, holding.as_ref()) {
            continue;
        }
        let Ok(text) = serde_json::to_string(&ev) else {
            continue;
        };
        if socket.send(Message::Text(text.into())).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::access::{Actor, Grants, seeded};
    use crm_domain::ids::{RoleId, TokenId};

    fn sales(me: &str) -> Principal {
        let grants = seeded::roles()
            .into_iter()
            .find(|(id, _, _)| id == seeded::SALES)
            .map(|(_, _, g)| g)
            .unwrap_or_default();
        Principal::session(Actor {
            user: Some(UserId::new(me)),
            role: RoleId::new(seeded::SALES),
            grants,
            teammates: Default::default(),
        })
    }

    #[test]
    fn customer_events_reach_only_callers_whose_scope_holds_the_customer() {
        let moved = DomainEvent::new(EventKind::CardMoved, Some("c1"), serde_json::json!({}));
        let gap = DomainEvent::new(EventKind::StreamGap, None, serde_json::json!({}));
        let anonymous = DomainEvent::new(EventKind::CustomerCreated, None, serde_json::json!({}));
        let ayse = Holding::new(Some(UserId::new("ayse")), []);
        let nobody = Holding::default();
        assert!(may_see(&sales("ayse"), &moved, Some(&ayse)));
        assert!(!may_see(&sales("mehmet"), &moved, Some(&ayse)));
        assert!(
            !may_see(&sales("ayse"), &moved, Some(&nobody)),
            "sales has no unassigned pool"
        );
        let token = |scope| Principal {
            token: Some(TokenId::new("t")),
            scope,
            actor: Actor::service(),
        };
        assert!(may_see(&token(TokenScope::Full), &moved, Some(&nobody)));
        assert!(!may_see(&token(TokenScope::Intake), &moved, Some(&ayse)));
        assert!(!may_see(&token(TokenScope::Metrics), &anonymous, None));
        assert!(may_see(&token(TokenScope::Metrics), &gap, None));
        let closed = Principal::session(Actor {
            grants: Grants::default(),
            ..sales("ayse").actor
        });
        assert!(!may_see(&closed, &moved, Some(&ayse)));
        // Who loses a customer hears of the reassignment, not of what follows.
        let handed = DomainEvent::new(
            EventKind::CustomerAssigned,
            Some("c1"),
            serde_json::json!({"owner_id": "mehmet", "assignee_ids": [], "before": {"owner_id": "ayse", "assignee_ids": []}}),
        );
        let mehmet = Holding::new(Some(UserId::new("mehmet")), []);
        assert!(may_see(&sales("ayse"), &handed, Some(&mehmet)));
        assert!(may_see(&sales("mehmet"), &handed, Some(&mehmet)));
        assert!(!may_see(&sales("zeynep"), &handed, Some(&mehmet)));
        assert!(!may_see(&sales("ayse"), &moved, Some(&mehmet)));
        assert!(wanted(&["card.".to_string()], &gap));
        assert!(!wanted(&["card.".to_string()], &anonymous));
    }
}
