//! `GET /api/v1/events`: a WebSocket stream of domain events, for proving a
//! change made through one api process reaches a client of another (the
//! dashboard fan-out by topic builds on this).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use crm_domain::auth::Permission;
use crm_domain::model::DomainEvent;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiResult;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Comma-separated kind prefixes (`customer.,card.moved`); all when absent.
    kinds: Option<String>,
}

pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<StreamQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    caller.require(Permission::StreamEvents)?;
    let kinds: Vec<String> = q
        .kinds
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let rx = st.bus.subscribe();
    Ok(ws.on_upgrade(move |socket| pump(socket, rx, kinds)))
}

fn wanted(kinds: &[String], ev: &DomainEvent) -> bool {
    kinds.is_empty() || kinds.iter().any(|k| ev.kind.starts_with(k.as_str()))
}

async fn pump(
    mut socket: WebSocket,
    mut rx: tokio::sync::broadcast::Receiver<DomainEvent>,
    kinds: Vec<String>,
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
                    if !wanted(&kinds, &ev) { continue; }
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
