//! `GET /api/v1/events`: a WebSocket stream of domain events, for proving a
//! change made through one api process reaches a client of another (the
//! dashboard fan-out by topic builds on this). An event about a customer
//! reaches only callers who may read customers; the stream's own notices
//! (`stream.*`: a gap after a bus reconnect, a slow client's lag) reach all.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use crm_domain::auth::{Permission, Principal};
use crm_domain::model::{DomainEvent, EventKind};
use crm_runtime::bus::EventBus;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::{Caller, TokenFrom, require};
use crate::error::ApiResult;

pub fn router(state: &AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/events", get(events))
        .route_layer(require(
            state,
            Permission::StreamEvents,
            TokenFrom::HeaderOrQuery,
        ))
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated kind prefixes (`customer.,card.moved`); all when absent.
    kinds: Option<String>,
}

pub async fn events(
    State(bus): State<EventBus>,
    caller: Caller,
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
    let rx = bus.subscribe();
    let caller = caller.0;
    Ok(ws.on_upgrade(move |socket| pump(socket, rx, kinds, caller)))
}

fn wanted(kinds: &[String], ev: &DomainEvent) -> bool {
    let kind = ev.kind.as_str();
    kind.starts_with("stream.")
        || kinds.is_empty()
        || kinds.iter().any(|k| kind.starts_with(k.as_str()))
}

/// Whether `caller` may see `ev`. Until customers have owners and scopes,
/// seeing a customer's events is reading customers.
fn may_see(caller: &Principal, ev: &DomainEvent) -> bool {
    ev.customer_id.is_none() && ev.kind == EventKind::StreamGap
        || caller.may(Permission::ReadCustomers)
}

async fn pump(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<DomainEvent>,
    kinds: Vec<String>,
    caller: Principal,
) {
    if socket
        .send(Message::Text(r#"{"kind":"stream.open"}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if !wanted(&kinds, &ev) || !may_see(&caller, &ev) { continue; }
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() { break; }
                }
                Err(RecvError::Lagged(n)) => {
                    // A slow client: say how much it missed so it can refresh.
                    let msg = format!(r#"{{"kind":"stream.lagged","missed":{n}}}"#);
                    if socket.send(Message::Text(msg.into())).await.is_err() { break; }
                }
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_domain::auth::{Role, TokenScope};

    #[test]
    fn customer_events_need_customer_read_and_notices_reach_all() {
        let p = |scope| Principal {
            token_id: "t".into(),
            user_id: None,
            role: Role::Agent,
            scope,
        };
        let moved = DomainEvent::new(EventKind::CardMoved, Some("c1"), serde_json::json!({}));
        let gap = DomainEvent::new(EventKind::StreamGap, None, serde_json::json!({}));
        let anonymous = DomainEvent::new(EventKind::CustomerCreated, None, serde_json::json!({}));
        assert!(may_see(&p(TokenScope::Full), &moved));
        assert!(!may_see(&p(TokenScope::Intake), &moved));
        assert!(!may_see(&p(TokenScope::Metrics), &anonymous));
        assert!(may_see(&p(TokenScope::Metrics), &gap));
        assert!(wanted(&["card.".to_string()], &gap));
        assert!(!wanted(&["card.".to_string()], &anonymous));
    }
}
