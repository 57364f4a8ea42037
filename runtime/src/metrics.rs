//! Process-local metrics through `prometheus-client`, rendered in the
//! Prometheus text format (0.0.4) that `GET /metrics` serves.
//!
//! Every series the workspace counts is listed in the tables below and
//! created at start. `inc` finds a pre-made counter handle by comparing
//! static strings, then does one relaxed atomic add: no lock, no allocation.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError, RwLock};

use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
    prometheus_text,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::render`] writes.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics text could not be written")]
    Encode(#[from] std::fmt::Error),
}

/// Durations, in seconds: enough to read p50/p99 of intake and jobs.
const BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How many things one operation carried (rows per batch; at most 512).
const BUCKETS_SIZE: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// HTTP latency: most answers take well under 5 ms, so the low end is finer
/// than client_golang's defaults; the high end catches slow list queries.
const BUCKETS_HTTP: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

struct CounterSpec {
    name: &'static str,
    help: &'static str,
    /// Created at start, so each shows as 0 before it first happens; the
    /// commonest first, since `inc` scans in order.
    outcomes: &'static [&'static str],
}

const COUNTERS: &[CounterSpec] = &[
    CounterSpec {
        name: "crm_intake_total",
        help: "Meta webhooks and intake leads received, by outcome",
        outcomes: &[
            "pending",
            "lead_accepted",
            "duplicate",
            "ignored",
            "invalid",
            "lead_rejected",
            "bad_signature",
            "too_large",
            "not_configured",
            "store_error",
        ],
    },
    CounterSpec {
        name: "crm_jobs_total",
        help: "Inbound events processed by the workers, by outcome",
        outcomes: &["done", "ignored", "skipped", "failed", "dead"],
    },
    CounterSpec {
        name: "crm_webhook_verify_total",
        help: "Meta webhook verification handshakes, by outcome",
        outcomes: &["refused"],
    },
    CounterSpec {
        name: "crm_backfill_leads_total",
        help: "Lead Ads form backfills that read a form's leads from the Graph API",
        outcomes: &["read"],
    },
];

struct HistogramSpec {
    name: &'static str,
    help: &'static str,
    buckets: &'static [f64],
}

const HISTOGRAMS: &[HistogramSpec] = &[
    HistogramSpec {
        name: "crm_job_seconds",
        help: "Time a worker took to process one inbound event, in seconds",
        buckets: BUCKETS_SECONDS,
    },
    HistogramSpec {
        name: "crm_intake_commit_seconds",
        help: "Time to write one intake batch in one transaction, in seconds",
        buckets: BUCKETS_SECONDS,
    },
    HistogramSpec {
        name: "crm_intake_batch_rows",
        help: "Inbound events written per intake transaction",
        buckets: BUCKETS_SIZE,
    },
];

const HTTP_NAME: &str = "crm_http_request_duration_seconds";

type OutcomeLabel = [(&'static str, &'static str); 1];

type HttpRoutes = HashMap<String, Vec<(&'static str, u16, Histogram)>>;

#[derive(Debug)]
struct ListedCounter {
    name: &'static str,
    family: Family<OutcomeLabel, Counter>,
    /// Handles taken out of `family` at start. They share its atomics, so
    /// counting through them skips the family's RwLock and HashMap.
    known: Vec<(&'static str, Counter)>,
}

/// Every series of one process. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    counters: Vec<ListedCounter>,
    histograms: Vec<(&'static str, Histogram)>,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    /// Handles into `http` by route, then method and status. Looked up by
    /// `&str`: an answered request allocates nothing once its series exists
    /// (the family's own lookup would need an owned `String` key).
    http_routes: RwLock<HttpRoutes>,
    /// Registering needs `&mut Registry`, so series first named at run time
    /// (missing from the tables above) live here, behind a mutex.
    dynamic: Mutex<Dynamic>,
}

#[derive(Debug)]
struct Dynamic {
    registry: Registry,
    counters: Vec<(&'static str, Family<OutcomeLabel, Counter>)>,
    histograms: Vec<(&'static str, Histogram)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let counters = COUNTERS
            .iter()
            .map(|spec| {
                let family = Family::<OutcomeLabel, Counter>::default();
                let known = spec
                    .outcomes
                    .iter()
                    .map(|&o| (o, family.get_or_create_owned(&[("outcome", o)])))
                    .collect();
                registry.register(counter_base(spec.name), spec.help, family.clone());
                ListedCounter {
                    name: spec.name,
                    family,
                    known,
                }
            })
            .collect();
        let histograms = HISTOGRAMS
            .iter()
            .map(|spec| {
                let h = Histogram::new(spec.buckets.iter().copied());
                registry.register(spec.name, spec.help, h.clone());
                (spec.name, h)
            })
            .collect();
        let http: Family<HttpLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(http_histogram);
        registry.register(
            HTTP_NAME,
            "Time to answer an HTTP request, by method, route template and status, in seconds",
            http.clone(),
        );
        #[cfg(target_os = "linux")]
        registry.register_collector(Box::new(process::ProcessCollector::new()));
        Self {
            counters,
            histograms,
            http,
            http_routes: RwLock::default(),
            dynamic: Mutex::new(Dynamic {
                registry,
                counters: Vec::new(),
                histograms: Vec::new(),
            }),
        }
    }

    /// Counts one occurrence of `name{outcome=...}`.
    pub fn inc(&self, name: &'static str, outcome: &'static str) {
        match self.counters.iter().find(|c| c.name == name) {
            Some(c) => match c.known.iter().find(|(o, _)| *o == outcome) {
                Some((_, counter)) => {
                    counter.inc();
                }
                // An outcome missing from its table still counts, through
                // the family's lock.
                None => {
                    c.family.get_or_create(&[("outcome", outcome)]).inc();
                }
            },
            None => self.inc_unlisted(name, outcome),
        }
    }

    /// A duration, rendered in seconds as Prometheus expects.
    pub fn observe_ms(&self, name: &'static str, ms: f64) {
        // Dividing (not multiplying by 0.001) keeps 5 ms exactly at 0.005.
        self.observe(name, ms / 1000.0, BUCKETS_SECONDS);
    }

    /// A count of things one operation carried, such as rows per batch.
    pub fn observe_size(&self, name: &'static str, n: f64) {
        self.observe(name, n, BUCKETS_SIZE);
    }

    /// One answered HTTP request. `route` must be the matched route template
    /// (`/api/v1/customers/{id}`) or `"unmatched"`, never the raw path, so the
    /// number of series stays bounded.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        {
            let routes = self
                .http_routes
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let series = routes
                .get(route)
                .and_then(|s| s.iter().find(|(m, st, _)| *m == method && *st == status));
            if let Some((_, _, h)) = series {
                h.observe(seconds);
                return;
            }
        }
        self.observe_http_first(method, route, status, seconds);
    }

    #[cold]
    fn observe_http_first(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let h = self.http.get_or_create_owned(&HttpLabels {
            method,
            route: route.to_owned(),
            status,
        });
        h.observe(seconds);
        let mut routes = self
            .http_routes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let series = routes.entry(route.to_owned()).or_default();
        // Another request may have added the same series meanwhile.
        if !series
            .iter()
            .any(|(m, st, _)| *m == method && *st == status)
        {
            series.push((method, status, h));
        }
    }

    fn observe(&self, name: &'static str, v: f64, unlisted_buckets: &'static [f64]) {
        match self.histograms.iter().find(|(n, _)| *n == name) {
            Some((_, h)) => h.observe(v),
            None => self.observe_unlisted(name, v, unlisted_buckets),
        }
    }

    #[cold]
    fn inc_unlisted(&self, name: &'static str, outcome: &'static str) {
        let mut d = self.dynamic.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, f)) = d.counters.iter().find(|(n, _)| *n == name) {
            f.get_or_create(&[("outcome", outcome)]).inc();
            return;
        }
        tracing::warn!(
            metric = name,
            "counter missing from crm-runtime's metrics table"
        );
        let family = Family::<OutcomeLabel, Counter>::default();
        family.get_or_create(&[("outcome", outcome)]).inc();
        d.registry.register(
            counter_base(name),
            "Counted without a description",
            family.clone(),
        );
        d.counters.push((name, family));
    }

    #[cold]
    fn observe_unlisted(&self, name: &'static str, v: f64, buckets: &'static [f64]) {
        let mut d = self.dynamic.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, h)) = d.histograms.iter().find(|(n, _)| *n == name) {
            h.observe(v);
            return;
        }
        tracing::warn!(
            metric = name,
            "histogram missing from crm-runtime's metrics table"
        );
        let h = Histogram::new(buckets.iter().copied());
        h.observe(v);
        d.registry
            .register(name, "Observed without a description", h.clone());
        d.histograms.push((name, h));
    }

    /// Prometheus text format (0.0.4), each series under its HELP and TYPE
    /// lines; `scrape` adds the gauges read at scrape time.
    pub fn render(&self, scrape: &Scrape) -> Result<String, MetricsError> {
        let mut out = String::with_capacity(16 * 1024);
        {
            let d = self.dynamic.lock().unwrap_or_else(PoisonError::into_inner);
            prometheus_text::encode(&mut out, &d.registry)?;
        }
        prometheus_text::encode(&mut out, &scrape.registry())?;
        Ok(out)
    }
}

/// Values read from the queue and the database when `/metrics` is scraped.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Jobs waiting in the queue; `None` when the queue did not answer.
    pub queue_depth: Option<i64>,
    /// `(source, status, events)` rows of the inbound event table.
    pub inbound_events: Vec<(String, String, i64)>,
    /// Live events waiting for the broker (RabbitMQ), and dropped so far
    /// because that buffer was full; `None` on the in-process bus.
    pub bus: Option<(u64, u64)>,
}

impl Scrape {
    fn registry(&self) -> Registry {
        let mut r = Registry::default();
        if let Some(depth) = self.queue_depth {
            let g: Gauge = Gauge::default();
            g.set(depth);
            r.register("crm_queue_depth", "Ingest jobs waiting in the queue", g);
        }
        let events = Family::<[(&'static str, String); 2], Gauge>::default();
        for (source, status, n) in &self.inbound_events {
            events
                .get_or_create(&[("source", source.clone()), ("status", status.clone())])
                .set(*n);
        }
        if let Some((buffered, dropped)) = self.bus {
            let g: Gauge = Gauge::default();
            g.set(i64::try_from(buffered).unwrap_or(i64::MAX));
            r.register(
                "crm_bus_buffered_events",
                "Live events waiting for the event bus broker",
                g,
            );
            let g: Gauge = Gauge::default();
            g.set(i64::try_from(dropped).unwrap_or(i64::MAX));
            r.register(
                "crm_bus_dropped_events",
                "Live events dropped since start because the bus buffer was full",
                g,
            );
        }
        // An empty family writes nothing, not even its HELP line.
        r.register(
            "crm_inbound_events",
            "Stored inbound events, by source and status",
            events,
        );
        r
    }
}

/// Registered names of counters leave out `_total`: the encoder adds it.
fn counter_base(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

fn http_histogram() -> Histogram {
    Histogram::new(BUCKETS_HTTP.iter().copied())
}

/// Methods outside the standard set share one label value: a client cannot
/// grow the series count by inventing methods.
fn method_label(m: &str) -> &'static str {
    match m {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

impl EncodeLabelSet for HttpLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("method", self.method).encode(encoder.encode_label())?;
        ("route", self.route.as_str()).encode(encoder.encode_label())?;
        ("status", StatusLabel(self.status)).encode(encoder.encode_label())
    }
}

struct StatusLabel(u16);

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

/// `process_*` series as the Prometheus client libraries name them, read from
/// `/proc/self` at each scrape.
#[cfg(target_os = "linux")]
mod process {
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    #[derive(Debug)]
    pub(super) struct ProcessCollector {
        ticks_per_s: f64,
        page_bytes: u64,
        start_time_s: Option<f64>,
    }

    impl ProcessCollector {
        pub(super) fn new() -> Self {
            let (ticks_per_s, page_bytes) = aux_values();
            // Constant for the life of the process, so read once.
            let start_time_s = stat_field(STARTTIME)
                .zip(boot_time_s())
                .map(|(ticks, boot)| boot + ticks / ticks_per_s);
            Self {
                ticks_per_s,
                page_bytes,
                start_time_s,
            }
        }
    }

    impl Collector for ProcessCollector {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            // A file that cannot be read drops its series, not the scrape.
            if let Some((u, s)) = stat_field(UTIME).zip(stat_field(STIME)) {
                let cpu = ConstCounter::new((u + s) / self.ticks_per_s);
                emit(
                    &mut encoder,
                    "process_cpu_seconds",
                    "Total user and system CPU time spent in seconds.",
                    &cpu,
                )?;
            }
            if let Some(pages) = resident_pages() {
                emit(
                    &mut encoder,
                    "process_resident_memory_bytes",
                    "Resident memory size in bytes.",
                    &ConstGauge::new(pages.saturating_mul(self.page_bytes)),
                )?;
            }
            // Counts the descriptor read_dir holds open, as the Go and
            // Python clients do.
            if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
                emit(
                    &mut encoder,
                    "process_open_fds",
                    "Number of open file descriptors.",
                    &ConstGauge::new(dir.count() as u64),
                )?;
            }
            if let Some(t) = self.start_time_s {
                emit(
                    &mut encoder,
                    "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    &ConstGauge::new(t),
                )?;
            }
            Ok(())
        }
    }

    fn emit(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        metric: &impl EncodeMetric,
    ) -> Result<(), std::fmt::Error> {
        metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
    }

    // Field numbers of /proc/[pid]/stat as proc(5) counts them (from 1).
    const UTIME: usize = 14;
    const STIME: usize = 15;
    const STARTTIME: usize = 22;

    /// One numeric field of /proc/self/stat. The command name (field 2) may
    /// hold spaces and parentheses, so fields are counted after its last `)`.
    fn stat_field(n: usize) -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
    }

    fn resident_pages() -> Option<u64> {
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        statm.split_whitespace().nth(1)?.parse().ok()
    }

    fn boot_time_s() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()
    }

    /// Clock ticks per second and page size from the auxiliary vector the
    /// kernel gave the process: `sysconf` would need `unsafe` libc calls.
    fn aux_values() -> (f64, u64) {
        const AT_PAGESZ: usize = 6;
        const AT_CLKTCK: usize = 17;
        const W: usize = std::mem::size_of::<usize>();
        // USER_HZ and the page size on x86-64 and most arm64 kernels.
        let (mut ticks, mut page) = (100.0, 4096);
        let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
        for pair in auxv.chunks_exact(2 * W) {
            let (k, v) = pair.split_at(W);
            let (Ok(k), Ok(v)) = (<[u8; W]>::try_from(k), <[u8; W]>::try_from(v)) else {
                continue;
            };
            match (usize::from_ne_bytes(k), usize::from_ne_bytes(v)) {
                (AT_PAGESZ, v) if v > 0 => page = v as u64,
                (AT_CLKTCK, v) if v > 0 => ticks = v as f64,
                _ => {}
            }
        }
        (ticks, page)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.inc("crm_intake_total", "accepted");
        m.inc("crm_intake_total", "accepted");
        m.inc("crm_intake_total", "bad_signature");
        m.observe_ms("crm_job_seconds", 3.0);
        m.observe_size("crm_intake_batch_rows", 40.0);
        let text = m
            .render(&Scrape {
                queue_depth: Some(4),
                ..Scrape::default()
            })
            .unwrap();
        assert!(text.contains("crm_intake_batch_rows_bucket{le=\"32\"} 0"));
        assert!(text.contains("crm_intake_batch_rows_bucket{le=\"64\"} 1"));
        assert!(text.contains("crm_intake_batch_rows_sum 40"));
        assert!(text.contains("crm_intake_total{outcome=\"accepted\"} 2"));
        assert!(text.contains("crm_intake_total{outcome=\"bad_signature\"} 1"));
        assert!(text.contains("crm_job_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("crm_job_seconds_bucket{le=\"0.002\"} 0"));
        assert!(text.contains("crm_queue_depth 4"));
        // Listed outcomes exist before they first happen.
        assert!(
            text.contains("crm_jobs_total{outcome=\"dead\"} 0"),
            "{text}"
        );
        // What the bench and the black-box tests read.
        assert_eq!(sample(&text, "crm_intake_batch_rows_count"), Some(1.0));
        assert_eq!(sample(&text, "crm_job_seconds_sum"), Some(0.003));
        assert_eq!(sample(&text, "crm_intake_commit_seconds_count"), Some(0.0));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn every_series_has_help_and_type() {
        let m = Metrics::default();
        m.inc("crm_jobs_total", "done");
        m.inc("crm_unlisted_total", "x");
        m.observe_ms("crm_unlisted_seconds", 7.0);
        m.observe_http("GET", "/api/v1/customers/{id}", 200, 0.0042);
        m.observe_http("BREW", "unmatched", 404, 0.0001);
        let text = m
            .render(&Scrape {
                queue_depth: Some(0),
                inbound_events: vec![("meta".into(), "pending".into(), 3)],
                bus: Some((2, 7)),
            })
            .unwrap();
        let mut typed: Vec<(String, String)> = Vec::new();
        let mut helped: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                assert!(!help.is_empty(), "{line}");
                helped.push(name.to_string());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert_eq!(helped.last().map(String::as_str), Some(name), "{line}");
                assert!(
                    !typed.iter().any(|(n, _)| n == name),
                    "two TYPE lines for {name}"
                );
                typed.push((name.to_string(), kind.to_string()));
            } else {
                // A sample belongs to the family named by the last TYPE line.
                let series = line.split(['{', ' ']).next().unwrap();
                let (family, kind) = typed.last().unwrap();
                let ok = match kind.as_str() {
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| series.strip_suffix(s) == Some(family)),
                    _ => series == family,
                };
                assert!(ok, "{line} under TYPE {family} {kind}");
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        let kind = |n: &str| typed.iter().find(|(t, _)| t == n).map(|(_, k)| k.as_str());
        assert_eq!(kind("crm_intake_total"), Some("counter"));
        assert_eq!(kind("crm_jobs_total"), Some("counter"));
        assert_eq!(kind("crm_webhook_verify_total"), Some("counter"));
        assert_eq!(kind("crm_backfill_leads_total"), Some("counter"));
        assert_eq!(kind("crm_job_seconds"), Some("histogram"));
        assert_eq!(kind("crm_intake_commit_seconds"), Some("histogram"));
        assert_eq!(kind("crm_intake_batch_rows"), Some("histogram"));
        assert_eq!(kind("crm_unlisted_total"), Some("counter"));
        assert_eq!(kind("crm_unlisted_seconds"), Some("histogram"));
        assert_eq!(kind(HTTP_NAME), Some("histogram"));
        assert_eq!(kind("crm_queue_depth"), Some("gauge"));
        assert_eq!(kind("crm_inbound_events"), Some("gauge"));
        assert!(text.contains("crm_unlisted_total{outcome=\"x\"} 1"));
        assert!(text.contains("crm_unlisted_seconds_bucket{le=\"0.01\"} 1"));
        assert!(text.contains("crm_inbound_events{source=\"meta\",status=\"pending\"} 3"));
        assert!(text.contains("crm_bus_buffered_events 2"));
        assert!(text.contains("crm_bus_dropped_events 7"));
        assert!(text.contains(
            "crm_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/customers/{id}\",status=\"200\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "crm_http_request_duration_seconds_count{method=\"other\",route=\"unmatched\",status=\"404\"} 1"
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_from_proc() {
        let text = Metrics::default().render(&Scrape::default()).unwrap();
        for (name, kind) in [
            ("process_cpu_seconds_total", "counter"),
            ("process_resident_memory_bytes", "gauge"),
            ("process_open_fds", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "{text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{text}");
        }
        let rss = sample(&text, "process_resident_memory_bytes").unwrap();
        assert!(rss > 1e5, "{rss}");
        // stdin, stdout, stderr at least.
        assert!(sample(&text, "process_open_fds").unwrap() >= 3.0);
        assert!(sample(&text, "process_cpu_seconds_total").unwrap() >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = sample(&text, "process_start_time_seconds").unwrap();
        // btime is whole seconds, so allow a little past now.
        assert!(
            started <= now + 2.0 && started > now - 3600.0,
            "{started} vs {now}"
        );
    }
}
