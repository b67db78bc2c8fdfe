//! Latency histograms (hdrhistogram, ns resolution) and YCSB-format output (text + JSON array).

use hdrhistogram::Histogram;
use serde_json::{json, Value};

pub const OPS: &[&str] = &["INSERT", "READ", "UPDATE", "SCAN", "READ-MODIFY-WRITE", "COMMIT"];
pub const INSERT: usize = 0;
pub const READ: usize = 1;
pub const UPDATE: usize = 2;
pub const SCAN: usize = 3;
pub const RMW: usize = 4;
pub const COMMIT: usize = 5;

pub struct Measurements {
    pub hist: Vec<Histogram<u64>>,
    /// Every top-level operation (an RMW counts once), for the overall percentiles.
    pub all: Histogram<u64>,
    pub ok: Vec<u64>,
    pub not_found: Vec<u64>,
    pub error: Vec<u64>,
    pub mismatch: Vec<u64>,
}

impl Default for Measurements {
    fn default() -> Self {
        Self::new()
    }
}

impl Measurements {
    pub fn new() -> Measurements {
        let n = OPS.len();
        Measurements {
            // 1 ns .. 1 hour, 3 significant digits.
            hist: (0..n).map(|_| Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap()).collect(),
            all: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap(),
            ok: vec![0; n],
            not_found: vec![0; n],
            error: vec![0; n],
            mismatch: vec![0; n],
        }
    }
    #[inline]
    pub fn record(&mut self, op: usize, ns: u64) {
        self.hist[op].saturating_record(ns.max(1));
    }
    #[inline]
    pub fn record_all(&mut self, ns: u64) {
        self.all.saturating_record(ns.max(1));
    }
    pub fn merge(&mut self, o: &Measurements) {
        self.all.add(&o.all).unwrap();
        for i in 0..OPS.len() {
            self.hist[i].add(&o.hist[i]).unwrap();
            self.ok[i] += o.ok[i];
            self.not_found[i] += o.not_found[i];
            self.error[i] += o.error[i];
            self.mismatch[i] += o.mismatch[i];
        }
    }
}

/// YCSB-format result lines: (metric, measurement, value).
pub struct Report {
    pub lines: Vec<(String, String, Value)>,
}

impl Report {
    pub fn new() -> Report {
        Report { lines: Vec::new() }
    }
    pub fn push(&mut self, metric: &str, measurement: &str, v: Value) {
        self.lines.push((metric.to_string(), measurement.to_string(), v));
    }
    /// `[OVERALL]` and per-operation lines exactly in YCSB's order and names, plus ns-precision
    /// percentiles (extra lines with their own names, so YCSB parsers are unaffected).
    pub fn add_measurements(&mut self, prefix: &str, runtime_ms: f64, ops: u64, m: &Measurements) {
        let over = format!("{prefix}OVERALL");
        self.push(&over, "RunTime(ms)", json!(runtime_ms.round() as u64));
        let tput = if runtime_ms > 0.0 { ops as f64 * 1000.0 / runtime_ms } else { 0.0 };
        self.push(&over, "Throughput(ops/sec)", json!(tput));
        if !m.all.is_empty() {
            self.push(&over, "AverageLatency(ns)", json!(m.all.mean()));
            self.push(&over, "50thPercentileLatency(ns)", json!(m.all.value_at_quantile(0.50)));
            self.push(&over, "95thPercentileLatency(ns)", json!(m.all.value_at_quantile(0.95)));
            self.push(&over, "99thPercentileLatency(ns)", json!(m.all.value_at_quantile(0.99)));
        }
        for (i, name) in OPS.iter().enumerate() {
            self.add_one(&format!("{prefix}{name}"), m, i);
        }
    }
    /// The lines of one operation type `i` of `m`, under metric name `metric`.
    pub fn add_one(&mut self, metric: &str, m: &Measurements, i: usize) {
        let h = &m.hist[i];
        if h.is_empty() {
            return;
        }
        let us = |ns: u64| (ns as f64 / 1000.0).round() as u64;
        self.push(metric, "Operations", json!(h.len()));
        self.push(metric, "AverageLatency(us)", json!(h.mean() / 1000.0));
        self.push(metric, "MinLatency(us)", json!(us(h.min())));
        self.push(metric, "MaxLatency(us)", json!(us(h.max())));
        self.push(metric, "95thPercentileLatency(us)", json!(us(h.value_at_quantile(0.95))));
        self.push(metric, "99thPercentileLatency(us)", json!(us(h.value_at_quantile(0.99))));
        self.push(metric, "50thPercentileLatency(ns)", json!(h.value_at_quantile(0.50)));
        self.push(metric, "95thPercentileLatency(ns)", json!(h.value_at_quantile(0.95)));
        self.push(metric, "99thPercentileLatency(ns)", json!(h.value_at_quantile(0.99)));
        self.push(metric, "99.9thPercentileLatency(ns)", json!(h.value_at_quantile(0.999)));
        if m.ok[i] > 0 {
            self.push(metric, "Return=OK", json!(m.ok[i]));
        }
        if m.not_found[i] > 0 {
            self.push(metric, "Return=NOT_FOUND", json!(m.not_found[i]));
        }
        if m.error[i] > 0 {
            self.push(metric, "Return=ERROR", json!(m.error[i]));
        }
        if m.mismatch[i] > 0 {
            self.push(metric, "Return=MISMATCH", json!(m.mismatch[i]));
        }
    }
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (m, k, v) in &self.lines {
            let v = match v {
                Value::String(x) => x.clone(),
                o => o.to_string(),
            };
            s.push_str(&format!("[{m}], {k}, {v}\n"));
        }
        s
    }
    /// YCSB's JSONArrayMeasurementsExporter shape: `[{"metric":..,"measurement":..,"value":..}]`.
    pub fn json(&self) -> String {
        let arr: Vec<Value> =
            self.lines.iter().map(|(m, k, v)| json!({"metric": m, "measurement": k, "value": v})).collect();
        serde_json::to_string_pretty(&Value::Array(arr)).unwrap()
    }
}
