//! The bench's table and JSON.

use serde_json::{Value, json};

use super::BenchArgs;

pub struct Row {
    name: String,
    what: String,
    value: Option<f64>,
    unit: &'static str,
    ratio: Option<f64>,
    extra: Value,
}

impl Row {
    pub fn rate(name: &str, what: &str, per_sec: f64, baseline: Option<f64>) -> Self {
        Row {
            name: name.into(),
            what: what.into(),
            value: Some(per_sec),
            unit: "records/s",
            ratio: baseline.map(|b| per_sec / b),
            extra: Value::Null,
        }
    }

    pub fn seconds(name: &str, what: &str, secs: f64) -> Self {
        Row {
            name: name.into(),
            what: what.into(),
            value: Some(secs),
            unit: "s",
            ratio: None,
            extra: Value::Null,
        }
    }

    pub fn mib(name: &str, what: &str, mib: f64) -> Self {
        Row {
            name: name.into(),
            what: what.into(),
            value: Some(mib),
            unit: "MiB",
            ratio: None,
            extra: Value::Null,
        }
    }

    pub fn latency(name: &str, samples: &[f64]) -> Self {
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| {
            if s.is_empty() { f64::NAN } else { s[((s.len() - 1) as f64 * p).round() as usize] * 1000.0 }
        };
        Row {
            name: name.into(),
            what: format!(
                "ingest→applied per record, ms (p50 {:.1}, p95 {:.1}, p99 {:.1}; n={})",
                q(0.5),
                q(0.95),
                q(0.99),
                s.len()
            ),
            value: Some(q(0.99)),
            unit: "ms p99",
            ratio: None,
            extra: json!({"p50_ms": q(0.5), "p95_ms": q(0.95), "p99_ms": q(0.99), "samples": s.len()}),
        }
    }
}

impl Row {
    /// Figures behind the value, in the JSON's `detail`.
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.extra = detail;
        self
    }
}

pub struct Report {
    params: Value,
    rows: Vec<Row>,
}

impl Report {
    pub fn new(args: &BenchArgs) -> Self {
        Report {
            params: json!({
                "records": args.records, "batch": args.batch, "clients": args.clients,
                "e2e_seconds": args.e2e_seconds, "latency_rate": args.latency_rate,
                "latency_seconds": args.latency_seconds, "workers": args.workers,
                "seed": args.seed, "smoke": args.smoke,
                "store": format!("{:?}", args.store).to_lowercase(),
                "queue": format!("{:?}", args.queue).to_lowercase(),
                "pg_workers": args.pg_workers,
                "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            }),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn print(&self) {
        println!("{:<17} {:>10} {:<10} {:>7}  WHAT", "FIGURE", "VALUE", "UNIT", "VS RAW");
        for r in &self.rows {
            let value = r.value.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
            let ratio = r.ratio.map_or(String::new(), |x| format!("{:.0}%", x * 100.0));
            println!("{:<17} {:>10} {:<10} {:>7}  {}", r.name, value, r.unit, ratio, r.what);
        }
    }

    pub fn to_json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| json!({"name": r.name, "what": r.what, "value": r.value, "unit": r.unit, "ratio_to_baseline": r.ratio, "detail": r.extra}))
            .collect();
        json!({"params": self.params, "results": rows})
    }
}
