//! Process-local counters and latency summaries, rendered for Prometheus.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    // Names are literals: counting on the intake path allocates nothing.
    counters: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latencies: Mutex<BTreeMap<&'static str, Histogram>>,
}

/// Fixed buckets in milliseconds: enough to read p50/p99 of intake and jobs.
const BUCKETS_MS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0,
];

/// Buckets for how many things one operation carried (rows per batch).
const BUCKETS_SIZE: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Rendered value = observed value × scale (milliseconds → seconds).
    scale: f64,
    counts: Vec<u64>,
    sum: f64,
    total: u64,
}

impl Metrics {
    /// Counts one occurrence of `name{outcome=...}`.
    pub fn inc(&self, name: &'static str, outcome: &'static str) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name, outcome)).or_default() += 1;
        }
    }

    /// A duration, rendered in seconds as Prometheus expects.
    pub fn observe_ms(&self, name: &'static str, ms: f64) {
        self.observe(name, ms, BUCKETS_MS, 0.001);
    }

    /// A count of things one operation carried, such as rows per batch.
    pub fn observe_size(&self, name: &'static str, n: f64) {
        self.observe(name, n, BUCKETS_SIZE, 1.0);
    }

    fn observe(&self, name: &'static str, v: f64, bounds: &'static [f64], scale: f64) {
        if let Ok(mut l) = self.latencies.lock() {
            let h = l.entry(name).or_insert_with(|| Histogram {
                bounds,
                scale,
                counts: vec![0; bounds.len()],
                sum: 0.0,
                total: 0,
            });
            for (b, c) in h.bounds.iter().zip(h.counts.iter_mut()) {
                if v <= *b {
                    *c += 1;
                }
            }
            h.sum += v;
            h.total += 1;
        }
    }

    /// Prometheus text format; `extra` adds gauges computed at scrape time.
    pub fn render(&self, extra: &[(String, f64)]) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            let mut last = "";
            for ((name, outcome), v) in c.iter() {
                if *name != last {
                    out.push_str(&format!("# TYPE {name} counter\n"));
                    last = name;
                }
                out.push_str(&format!("{name}{{outcome=\"{outcome}\"}} {v}\n"));
            }
        }
        if let Ok(l) = self.latencies.lock() {
            for (name, h) in l.iter() {
                out.push_str(&format!("# TYPE {name} histogram\n"));
                for (b, c) in h.bounds.iter().zip(&h.counts) {
                    out.push_str(&format!("{name}_bucket{{le=\"{}\"}} {c}\n", b * h.scale));
                }
                out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {}\n", h.total));
                out.push_str(&format!("{name}_sum {}\n", h.sum * h.scale));
                out.push_str(&format!("{name}_count {}\n", h.total));
            }
        }
        for (k, v) in extra {
            out.push_str(&format!("{k} {v}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.inc("crm_intake_total", "accepted");
        m.inc("crm_intake_total", "accepted");
        m.inc("crm_intake_total", "bad_signature");
        m.observe_ms("crm_job_seconds", 3.0);
        m.observe_size("crm_intake_batch_rows", 40.0);
        let text = m.render(&[("crm_queue_depth".into(), 4.0)]);
        assert!(text.contains("crm_intake_batch_rows_bucket{le=\"32\"} 0"));
        assert!(text.contains("crm_intake_batch_rows_bucket{le=\"64\"} 1"));
        assert!(text.contains("crm_intake_batch_rows_sum 40"));
        assert!(text.contains("crm_intake_total{outcome=\"accepted\"} 2"));
        assert!(text.contains("crm_intake_total{outcome=\"bad_signature\"} 1"));
        assert!(text.contains("crm_job_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("crm_job_seconds_bucket{le=\"0.002\"} 0"));
        assert!(text.contains("crm_queue_depth 4"));
    }
}
