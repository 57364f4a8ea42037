//! The domain event bus: in-process broadcast (embedded) or a RabbitMQ topic
//! exchange (scale-out). Events are published after their transaction
//! commits; they drive live dashboards, so a lost event costs a refresh, never
//! data — the database stays the source of truth.

use futures::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::broadcast;

use crm_domain::model::DomainEvent;

pub const EXCHANGE: &str = "crm.events";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unreachable at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("event bus error: {0}")]
    Broker(String),
}

#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<DomainEvent>,
    amqp: Option<Amqp>,
}

#[derive(Clone)]
struct Amqp {
    conn: std::sync::Arc<Connection>,
    channel: Channel,
    /// False once this api process's consumer has died: readiness fails, so
    /// the load balancer stops sending dashboards to a deaf node.
    consuming: std::sync::Arc<std::sync::atomic::AtomicBool>,
    consume: bool,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.amqp.is_some() {
            "EventBus::Amqp"
        } else {
            "EventBus::Local"
        })
    }
}

impl EventBus {
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(4096);
        Self { local, amqp: None }
    }

    /// `consume`: api processes receive every event (to fan out to their
    /// WebSocket clients); workers and the scheduler only publish.
    pub async fn connect(url: Option<&str>, consume: bool) -> Result<Self, BusError> {
        let Some(url) = url else {
            return Ok(Self::in_process());
        };
        let masked = crm_domain::util::mask_url(url);
        let err = |e: lapin::Error| BusError::Connect {
            url: masked.clone(),
            reason: e.to_string(),
        };
        let conn = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            Connection::connect(url, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| BusError::Connect {
            url: masked.clone(),
            reason: "timed out".into(),
        })?
        .map_err(err)?;
        let channel = conn.create_channel().await.map_err(err)?;
        channel
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
        let (local, _) = broadcast::channel(4096);
        let consuming = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(consume));
        if consume {
            let ch = conn.create_channel().await.map_err(err)?;
            // A server-named, exclusive, auto-delete queue per api process:
            // every process sees every event, and the queue dies with it.
            let q = ch
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions {
                        exclusive: true,
                        auto_delete: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(err)?;
            ch.queue_bind(
                q.name().clone(),
                EXCHANGE.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(err)?;
            let mut consumer = ch
                .basic_consume(
                    q.name().clone(),
                    "".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(err)?;
            let tx = local.clone();
            let alive = consuming.clone();
            tokio::spawn(async move {
                // The consumer lives as long as its channel: keep it here.
                let _channel = ch;
                while let Some(delivery) = consumer.next().await {
                    match delivery {
                        Ok(d) => match serde_json::from_slice::<DomainEvent>(&d.data) {
                            Ok(ev) => {
                                let _ = tx.send(ev);
                            }
                            Err(e) => tracing::warn!(error = %e, "undecodable event on bus"),
                        },
                        Err(e) => {
                            tracing::error!(error = %e, "event bus consumer stopped");
                            break;
                        }
                    }
                }
                alive.store(false, std::sync::atomic::Ordering::Relaxed);
            });
        }
        Ok(Self {
            local,
            amqp: Some(Amqp {
                conn: std::sync::Arc::new(conn),
                channel,
                consuming,
                consume,
            }),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.local.subscribe()
    }

    /// Best effort: failures are logged, never surfaced to the committed work
    /// that produced the events.
    pub async fn publish(&self, events: &[DomainEvent]) {
        for ev in events {
            match &self.amqp {
                None => {
                    let _ = self.local.send(ev.clone());
                }
                Some(a) => {
                    let payload = match serde_json::to_vec(ev) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, "unserialisable event");
                            continue;
                        }
                    };
                    let res = a
                        .channel
                        .basic_publish(
                            EXCHANGE.into(),
                            ev.routing_key().into(),
                            BasicPublishOptions::default(),
                            &payload,
                            BasicProperties::default().with_content_type("application/json".into()),
                        )
                        .await;
                    if let Err(e) = res {
                        tracing::warn!(error = %e, kind = %ev.kind, "event publish failed");
                    }
                }
            }
        }
    }

    pub async fn ping(&self) -> Result<(), BusError> {
        match &self.amqp {
            None => Ok(()),
            Some(a) if !a.conn.status().connected() => {
                Err(BusError::Broker("connection lost".into()))
            }
            Some(a) if a.consume && !a.consuming.load(std::sync::atomic::Ordering::Relaxed) => {
                Err(BusError::Broker("event consumer stopped".into()))
            }
            Some(_) => Ok(()),
        }
    }
}
