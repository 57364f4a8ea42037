//! The domain event bus: in-process broadcast (embedded) or a RabbitMQ topic
//! exchange (scale-out). Events are published after their transaction
//! commits; they drive live dashboards, so a lost event costs a refresh, never
//! data — the database stays the source of truth.
//!
//! # When the broker goes away
//!
//! On RabbitMQ one task per process owns the connection. When it breaks (a
//! broker restart, a dropped socket, a cancelled consumer) the task reconnects
//! with backoff (100 ms doubling to 5 s), declares the exchange again and, in
//! api processes, a fresh exclusive queue bound to it. Meanwhile:
//!
//! - `publish` never waits for the broker: events join a bounded in-memory
//!   buffer ([`BUFFER_EVENTS`]) that the task sends in order, with publisher
//!   confirms, as soon as it is connected. A batch the broker did not confirm
//!   is sent again after reconnecting (a consumer may see it twice). When the
//!   buffer is full the oldest events are dropped and counted
//!   ([`EventBus::dropped_events`]).
//! - A consumer's queue dies with its connection, so what other processes
//!   published during the outage is lost for this process. After every
//!   reconnect it puts one [`GAP_KIND`] event (no customer, data
//!   `{"reason":"bus_reconnected"}`) into its local broadcast, before anything
//!   the new queue delivers: clients must reload what they show. Buffered
//!   events of other processes reach it only if it is bound again by the
//!   time they are flushed; the gap covers them either way.
//! - `ping` (readiness) fails from the moment the connection is found broken
//!   until the connection and, in api processes, the consumer are back.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{Stream, StreamExt};
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer, Event,
    ExchangeKind,
};
use tokio::sync::{Notify, broadcast};

use crm_domain::model::{DomainEvent, EventKind};

pub const EXCHANGE: &str = "crm.events";

/// Events kept for the broker while it is away (about 1 KiB each).
pub const BUFFER_EVENTS: usize = 10_000;

/// The kind of the event a consumer injects after reconnecting.
pub const GAP_KIND: EventKind = EventKind::StreamGap;

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The first connect decides whether the process starts at all; later ones
/// are retried, so a broker that accepts but does not answer is given up on
/// sooner.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A batch not confirmed within this means a stuck (or blocked) broker:
/// reconnect rather than wait forever.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
/// Events per publish batch: one round of confirms covers all of them.
const BATCH: usize = 256;
/// How often the connection's status is looked at, beside its error events.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Why a connection to the broker ended or could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the broker cancelled the event consumer")]
    ConsumerCancelled,
    #[error("connection closed")]
    Closed,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("event bus unreachable at {url}")]
    Connect {
        url: String,
        #[source]
        source: LinkError,
    },
    #[error("event bus disconnected, reconnecting")]
    Disconnected {
        #[source]
        cause: Option<LinkError>,
    },
}

#[derive(Clone)]
pub struct EventBus {
    local: broadcast::Sender<DomainEvent>,
    amqp: Option<Arc<Amqp>>,
}

/// The handles' side of the connection task; the task stops when the last
/// handle goes.
struct Amqp {
    shared: Arc<Shared>,
    task: tokio::task::AbortHandle,
}

impl Drop for Amqp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What `publish` / `ping` and the connection task share.
struct Shared {
    outbox: Mutex<Outbox>,
    /// Raised on every publish; one waiter (the task), so a permit is kept
    /// when it is busy.
    wake: Notify,
    /// Connected, exchange declared and (api) consuming.
    ready: AtomicBool,
    last_error: Mutex<Option<LinkError>>,
}

impl Shared {
    fn set_down(&self, cause: LinkError) {
        self.ready.store(false, Ordering::Release);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(cause);
        }
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        // A panic while holding the lock leaves a consistent queue (each
        // operation is a few pushes and pops): keep using it.
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Outgoing {
    routing_key: String,
    payload: Vec<u8>,
}

/// Events waiting for the broker, oldest first, at most `cap`.
struct Outbox {
    queue: VecDeque<Outgoing>,
    cap: usize,
    dropped: u64,
    /// Whether this outage's first drop was logged already.
    warned: bool,
}

impl Outbox {
    fn new(cap: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            cap,
            dropped: 0,
            warned: false,
        }
    }

    /// Drops the oldest beyond `cap`; returns how many went.
    fn trim(&mut self) -> usize {
        let over = self.queue.len().saturating_sub(self.cap);
        self.queue.drain(..over);
        self.dropped += over as u64;
        over
    }

    fn push(&mut self, items: impl IntoIterator<Item = Outgoing>) -> usize {
        self.queue.extend(items);
        self.trim()
    }

    fn take(&mut self, n: usize) -> Vec<Outgoing> {
        let n = n.min(self.queue.len());
        self.queue.drain(..n).collect()
    }

    /// Puts an unconfirmed batch back in front, in its order.
    fn requeue(&mut self, batch: Vec<Outgoing>) -> usize {
        for item in batch.into_iter().rev() {
            self.queue.push_front(item);
        }
        self.trim()
    }
}

/// A batch on its way to the broker: back into the outbox unless confirmed,
/// also when the session future is dropped mid-send.
struct InFlight<'a> {
    shared: &'a Shared,
    batch: Vec<Outgoing>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.shared.outbox().requeue(batch);
        }
    }
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

fn gap_event() -> DomainEvent {
    DomainEvent::new(
        GAP_KIND,
        None,
        serde_json::json!({"reason": "bus_reconnected"}),
    )
}

impl EventBus {
    pub fn in_process() -> Self {
        let (local, _) = broadcast::channel(4096);
        Self { local, amqp: None }
    }

    /// `consume`: api processes receive every event (to fan out to their
    /// WebSocket clients); workers and the scheduler only publish. The first
    /// connection must succeed (a wrong URL stops start-up); later losses are
    /// reconnected in the background.
    pub async fn connect(url: Option<&str>, consume: bool) -> Result<Self, BusError> {
        let Some(url) = url else {
            return Ok(Self::in_process());
        };
        let session = Session::open(url, consume, FIRST_CONNECT_TIMEOUT)
            .await
            .map_err(|source| BusError::Connect {
                url: crm_domain::util::mask_url(url),
                source,
            })?;
        let (local, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            outbox: Mutex::new(Outbox::new(BUFFER_EVENTS)),
            wake: Notify::new(),
            ready: AtomicBool::new(true),
            last_error: Mutex::new(None),
        });
        let task = tokio::spawn(supervise(
            session,
            url.to_string(),
            consume,
            shared.clone(),
            local.clone(),
        ));
        Ok(Self {
            local,
            amqp: Some(Arc::new(Amqp {
                shared,
                task: task.abort_handle(),
            })),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.local.subscribe()
    }

    /// Best effort, and never waits for the broker: events are handed to the
    /// connection task (see the module doc for what happens while it is
    /// away); failures are logged, never surfaced to the committed work that
    /// produced the events.
    pub async fn publish(&self, events: &[DomainEvent]) {
        let Some(a) = &self.amqp else {
            for ev in events {
                let _ = self.local.send(ev.clone());
            }
            return;
        };
        let items: Vec<Outgoing> = events
            .iter()
            .filter_map(|ev| match serde_json::to_vec(ev) {
                Ok(payload) => Some(Outgoing {
                    routing_key: ev.routing_key().to_string(),
                    payload,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, kind = %ev.kind, "unserialisable event");
                    None
                }
            })
            .collect();
        if items.is_empty() {
            return;
        }
        let first_drop = {
            let mut outbox = a.shared.outbox();
            let dropped = outbox.push(items);
            let first = dropped > 0 && !outbox.warned;
            outbox.warned |= dropped > 0;
            first
        };
        if first_drop {
            tracing::warn!(
                buffered = BUFFER_EVENTS,
                "event bus buffer full while the broker is away; dropping the oldest events"
            );
        }
        a.shared.wake.notify_one();
    }

    /// Readiness: connected, and (api processes) consuming.
    pub async fn ping(&self) -> Result<(), BusError> {
        match &self.amqp {
            None => Ok(()),
            Some(a) if a.shared.ready.load(Ordering::Acquire) => Ok(()),
            Some(a) => Err(BusError::Disconnected {
                cause: a.shared.last_error.lock().ok().and_then(|e| e.clone()),
            }),
        }
    }

    /// Whether events go through a broker (RabbitMQ), not only this process.
    pub fn is_broker(&self) -> bool {
        self.amqp.is_some()
    }

    /// Events waiting for the broker.
    pub fn buffered(&self) -> usize {
        self.amqp
            .as_ref()
            .map_or(0, |a| a.shared.outbox().queue.len())
    }

    /// Waits (at most `within`) until every buffered event is confirmed by
    /// the broker; at shutdown, so events of the last moments are not lost
    /// with the process. Returns how many are still waiting.
    pub async fn flush(&self, within: std::time::Duration) -> usize {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = self.buffered();
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Events dropped so far because the buffer was full (or the broker
    /// refused them).
    pub fn dropped_events(&self) -> u64 {
        self.amqp.as_ref().map_or(0, |a| a.shared.outbox().dropped)
    }
}

/// One connection's worth of channels.
struct Session {
    conn: Connection,
    events: Pin<Box<dyn Stream<Item = Event> + Send>>,
    publisher: Channel,
    /// The consumer lives as long as its channel: both are kept here.
    consumer: Option<(Channel, Consumer)>,
}

impl Session {
    async fn open(url: &str, consume: bool, within: Duration) -> Result<Session, LinkError> {
        tokio::time::timeout(within, Self::open_inner(url, consume))
            .await
            .map_err(|_| LinkError::Timeout(within))?
    }

    async fn open_inner(url: &str, consume: bool) -> Result<Session, LinkError> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        // Listening from the start: an error before `run` is still seen.
        let events = Box::pin(conn.events_listener());
        let publisher = conn.create_channel().await?;
        publisher
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        // Confirms tell which buffered events the broker really took.
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let consumer = if consume {
            let ch = conn.create_channel().await?;
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
                .await?;
            ch.queue_bind(
                q.name().clone(),
                EXCHANGE.into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
            let consumer = ch
                .basic_consume(
                    q.name().clone(),
                    "".into(),
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Some((ch, consumer))
        } else {
            None
        };
        Ok(Session {
            conn,
            events,
            publisher,
            consumer,
        })
    }

    /// Publishes, consumes and watches the connection until one of them
    /// fails; returns why.
    async fn run(self, shared: &Shared, local: &broadcast::Sender<DomainEvent>) -> LinkError {
        let Session {
            conn,
            events,
            publisher,
            consumer,
        } = self;
        tokio::select! {
            e = publish_loop(&publisher, shared) => e,
            e = consume_loop(consumer, local) => e,
            e = watch(&conn, events) => e,
        }
        // Dropping the connection here closes it (if it still can be).
    }
}

async fn publish_loop(ch: &Channel, shared: &Shared) -> LinkError {
    loop {
        let batch = shared.outbox().take(BATCH);
        if batch.is_empty() {
            shared.wake.notified().await;
            continue;
        }
        let mut flight = InFlight { shared, batch };
        let sent = tokio::time::timeout(CONFIRM_TIMEOUT, publish_batch(ch, &flight.batch)).await;
        match sent {
            Err(_) => return LinkError::Timeout(CONFIRM_TIMEOUT),
            Ok(Err(e)) => return e.into(),
            Ok(Ok(nacked)) => {
                // Confirmed: the batch is the broker's now.
                flight.batch.clear();
                if nacked > 0 {
                    shared.outbox().dropped += nacked as u64;
                    tracing::warn!(count = nacked, "broker refused events");
                }
            }
        }
    }
}

/// Publishes a batch and waits for its confirms; returns how many the broker
/// refused (nack).
async fn publish_batch(ch: &Channel, batch: &[Outgoing]) -> Result<usize, lapin::Error> {
    let mut confirms = Vec::with_capacity(batch.len());
    for m in batch {
        let confirm = ch
            .basic_publish(
                EXCHANGE.into(),
                m.routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &m.payload,
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await?;
        confirms.push(confirm);
    }
    let mut nacked = 0;
    for confirm in confirms {
        if let Confirmation::Nack(_) = confirm.await? {
            nacked += 1;
        }
    }
    Ok(nacked)
}

async fn consume_loop(
    consumer: Option<(Channel, Consumer)>,
    local: &broadcast::Sender<DomainEvent>,
) -> LinkError {
    let Some((_channel, mut consumer)) = consumer else {
        return std::future::pending().await;
    };
    while let Some(delivery) = consumer.next().await {
        match delivery {
            Ok(d) => match serde_json::from_slice::<DomainEvent>(&d.data) {
                Ok(ev) => {
                    let _ = local.send(ev);
                }
                Err(e) => tracing::warn!(error = %e, "undecodable event on bus"),
            },
            Err(e) => return e.into(),
        }
    }
    LinkError::ConsumerCancelled
}

/// Ends when the connection reports an error or is no longer connected: a
/// publisher with nothing to send would not notice otherwise.
async fn watch(
    conn: &Connection,
    mut events: Pin<Box<dyn Stream<Item = Event> + Send>>,
) -> LinkError {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Event::Error(e)) => return e.into(),
                Some(_) => {}
                None => return LinkError::Closed,
            },
            _ = tick.tick() => {
                if !conn.status().connected() {
                    return LinkError::Closed;
                }
            }
        }
    }
}

/// The connection task: runs a session, and when it ends reconnects with
/// backoff, forever (until the last handle is dropped and aborts it).
async fn supervise(
    first: Session,
    url: String,
    consume: bool,
    shared: Arc<Shared>,
    local: broadcast::Sender<DomainEvent>,
) {
    let mut session = Some(first);
    let mut delay = BACKOFF_FIRST;
    loop {
        if let Some(s) = session.take() {
            let began = tokio::time::Instant::now();
            let cause = s.run(&shared, &local).await;
            shared.set_down(cause.clone());
            tracing::warn!(error = %cause, "event bus connection lost; reconnecting");
            // A session that held for a while starts the backoff over; one
            // that fails at once (a flapping broker) keeps it growing.
            if began.elapsed() >= BACKOFF_MAX {
                delay = BACKOFF_FIRST;
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
        match Session::open(&url, consume, RECONNECT_TIMEOUT).await {
            Ok(s) => {
                if consume {
                    // Before anything the new queue delivers (it is read
                    // only once the session runs).
                    let _ = local.send(gap_event());
                }
                let (buffered, dropped) = {
                    let mut outbox = shared.outbox();
                    outbox.warned = false;
                    (outbox.queue.len(), outbox.dropped)
                };
                shared.ready.store(true, Ordering::Release);
                tracing::info!(buffered, dropped, "event bus reconnected");
                session = Some(s);
            }
            Err(e) => {
                tracing::debug!(error = %e, retry_in = ?delay, "event bus reconnect failed");
                shared.set_down(e);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn item(n: u32) -> Outgoing {
        Outgoing {
            routing_key: "t".into(),
            payload: n.to_be_bytes().to_vec(),
        }
    }

    fn numbers(o: &Outbox) -> Vec<u32> {
        o.queue
            .iter()
            .map(|i| u32::from_be_bytes(i.payload.clone().try_into().unwrap()))
            .collect()
    }

    #[test]
    fn a_full_outbox_drops_the_oldest_and_counts_them() {
        let mut o = Outbox::new(3);
        assert_eq!(o.push((0..2).map(item)), 0);
        assert_eq!(o.push((2..5).map(item)), 2);
        assert_eq!(numbers(&o), vec![2, 3, 4]);
        assert_eq!(o.dropped, 2);
    }

    #[test]
    fn an_unconfirmed_batch_goes_back_in_front_in_order() {
        let mut o = Outbox::new(4);
        o.push((0..3).map(item));
        let batch = o.take(2);
        o.push((3..5).map(item));
        // 0 and 1 come back before 2, 3, 4; one over the cap: 0 goes.
        assert_eq!(o.requeue(batch), 1);
        assert_eq!(numbers(&o), vec![1, 2, 3, 4]);
        assert_eq!(o.dropped, 1);
    }

    #[test]
    fn a_dropped_flight_requeues_its_batch() {
        let shared = Shared {
            outbox: Mutex::new(Outbox::new(10)),
            wake: Notify::new(),
            ready: AtomicBool::new(false),
            last_error: Mutex::new(None),
        };
        shared.outbox().push((0..3).map(item));
        let batch = shared.outbox().take(2);
        drop(InFlight {
            shared: &shared,
            batch,
        });
        assert_eq!(numbers(&shared.outbox()), vec![0, 1, 2]);
    }
}
