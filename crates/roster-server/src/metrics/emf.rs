//! CloudWatch Embedded Metric Format: the engine's metrics as JSON lines on
//! stdout, which CloudWatch Logs turns into metrics (namespace `Roster`) —
//! what the AWS shape alarms on, where no Prometheus scrapes.
//!
//! The format (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! one JSON object per line with an `_aws` member holding `Timestamp`
//! (epoch milliseconds) and `CloudWatchMetrics` directives (`Namespace`,
//! `Dimensions` as arrays of member names, `Metrics` as `{Name, Unit}`); each
//! named dimension and metric is a top-level member of the same object, a
//! metric's value a number or an array of at most 100 numbers.
//!
//! Names: the Prometheus name without `roster_` and `_total`, in
//! UpperCamelCase (`roster_records_accepted_total` → `RecordsAccepted`).
//! Labels become dimensions; a metric labelled by `tenant` is published
//! a second time without it, so an alarm on the platform's total needs no
//! dimension and the per-tenant view stays bounded (tenant ids, never names).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use serde_json::{Map, Value, json};

/// The namespace every Roster metric is published in.
pub const NAMESPACE: &str = "Roster";

/// Most values of one metric in one document (the format's limit).
const MAX_VALUES: usize = 100;

/// The label that is published both as a dimension and, dropped, as the
/// platform's total.
const TENANT: &str = "tenant";

static RECORDER: std::sync::OnceLock<EmfRecorder> = std::sync::OnceLock::new();

/// Installs the EMF recorder as the process's `metrics` recorder on first
/// call and returns it (its flushes write what was recorded since the last).
/// `/metrics` then shows the gauges it reads itself only.
pub fn install() -> EmfRecorder {
    RECORDER
        .get_or_init(|| {
            let recorder = EmfRecorder::default();
            match metrics::set_global_recorder(recorder.clone()) {
                Ok(()) => roster_engine::telemetry::describe(),
                Err(_) => {
                    tracing::warn!("a metrics recorder was installed already; EMF lines carry gauges only")
                }
            }
            recorder
        })
        .clone()
}

/// Writes the EMF lines every `every` — the recorder's figures and the
/// node's gauges (`routes::metrics::read_gauges`) — and once more at
/// shutdown, to stdout, one line each.
pub fn spawn_flusher(
    recorder: EmfRecorder,
    state: crate::AppState,
    every: std::time::Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = shutdown.wait_for(|s| *s) => true,
            };
            write_lines(&recorder, &state, true).await;
            if stopping {
                return;
            }
        }
    })
}

/// Writes what was recorded since the last flush to stdout, one line each,
/// with the node's gauges when `gauges` (they cost a few reads of the
/// ports): a function calls it at the end of each invocation, since its
/// environment may be frozen, and so a timer never fire, right after.
pub async fn write_lines(recorder: &EmfRecorder, state: &crate::AppState, gauges: bool) {
    let gauges = if gauges { crate::routes::metrics::read_gauges(state).await } else { Vec::new() };
    let lines = recorder.flush(&gauges, state.clock.now().millis());
    let mut out = std::io::stdout().lock();
    for line in lines {
        use std::io::Write as _;
        let _ = writeln!(out, "{line}");
    }
}

/// A gauge sample read from the ports at flush time (queue depths, feeds by
/// status, the outbox backlog): the same figures `/metrics` serves.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeSample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// A `metrics` recorder that keeps counters and histograms until they are
/// flushed as EMF documents. Cheap to clone: clones share the figures.
#[derive(Clone, Default)]
pub struct EmfRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry<Key, AtomicStorage>,
    units: Mutex<HashMap<String, Unit>>,
    /// Each counter's value at the last flush: documents carry increments.
    flushed: Mutex<HashMap<Key, u64>>,
}

impl Default for Inner {
    fn default() -> Self {
        Self { registry: Registry::atomic(), units: Mutex::default(), flushed: Mutex::default() }
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.inner.registry.get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.inner.registry.get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.inner.registry.get_or_create_histogram(key, |h| Histogram::from_arc(h.clone()))
    }
}

/// One document's worth: a dimension set's values and the metrics sharing it.
#[derive(Default)]
struct Group {
    metrics: BTreeMap<String, (Unit, Vec<f64>)>,
}

impl EmfRecorder {
    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            self.inner.units.lock().unwrap_or_else(|e| e.into_inner()).insert(key.as_str().to_owned(), unit);
        }
    }

    /// The EMF lines of everything recorded since the last flush — counter
    /// increments (zero included, so an alarm sees 0 rather than missing
    /// data), histogram samples — and the `gauges` read now, stamped `now_ms`.
    pub fn flush(&self, gauges: &[GaugeSample], now_ms: i64) -> Vec<String> {
        let units = self.inner.units.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let unit_of = |name: &str| units.get(name).copied().unwrap_or(Unit::Count);
        let mut groups: BTreeMap<Vec<(String, String)>, Group> = BTreeMap::new();
        // `sum`: a counter reached by two label sets (its tenant dropped)
        // is one total; gauges and histograms keep every value.
        let mut add = |name: &str, labels: Vec<(String, String)>, unit: Unit, values: Vec<f64>, sum: bool| {
            for dims in dimension_sets(labels) {
                let group = groups.entry(dims).or_default();
                let entry = group.metrics.entry(emf_name(name)).or_insert_with(|| (unit, Vec::new()));
                match (entry.1.as_mut_slice(), values.as_slice()) {
                    ([total], [v]) if sum => *total += v,
                    _ => entry.1.extend(&values),
                }
            }
        };

        let mut flushed = self.inner.flushed.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.registry.visit_counters(|key, counter| {
            let now = counter.load(std::sync::atomic::Ordering::Relaxed);
            let before = flushed.insert(key.clone(), now).unwrap_or(0);
            add(key.name(), labels(key), Unit::Count, vec![now.saturating_sub(before) as f64], true);
        });
        drop(flushed);
        self.inner.registry.visit_histograms(|key, histogram| {
            let mut values = Vec::new();
            histogram.clear_with(|chunk| values.extend_from_slice(chunk));
            if !values.is_empty() {
                add(key.name(), labels(key), unit_of(key.name()), values, false);
            }
        });
        self.inner.registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(std::sync::atomic::Ordering::Relaxed));
            add(key.name(), labels(key), unit_of(key.name()), vec![value], false);
        });
        for g in gauges {
            let labels = g.labels.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            add(g.name, labels, unit_of(g.name), vec![g.value], false);
        }

        let mut lines = Vec::new();
        for (dims, group) in groups {
            // A histogram's samples may need several documents of 100.
            let mut rest: Vec<(String, Unit, Vec<f64>)> =
                group.metrics.into_iter().map(|(n, (u, v))| (n, u, v)).collect();
            while !rest.is_empty() {
                let mut doc = Map::new();
                let mut directives = Vec::new();
                for (name, unit, values) in &mut rest {
                    let take: Vec<f64> = values.drain(..values.len().min(MAX_VALUES)).collect();
                    let value = if take.len() == 1 { json!(take[0]) } else { json!(take) };
                    doc.insert(name.clone(), value);
                    directives.push(json!({"Name": name, "Unit": unit_name(*unit)}));
                }
                rest.retain(|(_, _, v)| !v.is_empty());
                for (k, v) in &dims {
                    doc.insert(k.clone(), Value::String(v.clone()));
                }
                let keys: Vec<&String> = dims.iter().map(|(k, _)| k).collect();
                doc.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": now_ms,
                        "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [keys], "Metrics": directives}],
                    }),
                );
                lines.push(Value::Object(doc).to_string());
            }
        }
        lines
    }
}

fn labels(key: &Key) -> Vec<(String, String)> {
    key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect()
}

/// The dimension sets a metric is published under: its labels, and without
/// the tenant when it has one. Dimension names in UpperCamelCase, sorted.
fn dimension_sets(labels: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let mut all: Vec<(String, String)> = labels.into_iter().map(|(k, v)| (camel(&k), v)).collect();
    all.sort();
    let tenant = camel(TENANT);
    if all.iter().any(|(k, _)| *k == tenant) {
        let without: Vec<(String, String)> = all.iter().filter(|(k, _)| *k != tenant).cloned().collect();
        vec![all, without]
    } else {
        vec![all]
    }
}

/// `roster_records_accepted_total` → `RecordsAccepted`.
pub fn emf_name(prometheus: &str) -> String {
    let bare = prometheus.strip_prefix("roster_").unwrap_or(prometheus);
    camel(bare.strip_suffix("_total").unwrap_or(bare))
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or_else(String::new, |f| f.to_ascii_uppercase().to_string() + c.as_str())
        })
        .collect()
}

/// CloudWatch's unit names.
fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Bytes => "Bytes",
        Unit::Percent => "Percent",
        _ => "Count",
    }
}

/// The format's rules, as CloudWatch checks a line (tests check every line
/// Roster writes with it); `Err` says which
/// one it breaks.
pub fn validate(line: &str) -> Result<(), String> {
    let doc: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let aws = doc.get("_aws").ok_or("no _aws member")?;
    let ts = aws["Timestamp"].as_i64().ok_or("_aws.Timestamp is not an integer")?;
    if ts < 1_000_000_000_000 {
        return Err("_aws.Timestamp is not in milliseconds".into());
    }
    let directives = aws["CloudWatchMetrics"].as_array().ok_or("no CloudWatchMetrics array")?;
    for d in directives {
        if d["Namespace"].as_str().is_none_or(str::is_empty) {
            return Err("a directive without Namespace".into());
        }
        for set in d["Dimensions"].as_array().ok_or("Dimensions is not an array")? {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 9 {
                return Err("more than 9 dimension keys".into());
            }
            for k in set {
                let k = k.as_str().ok_or("a dimension key is not a string")?;
                if !doc[k].is_string() {
                    return Err(format!("dimension {k} is not a top-level string member"));
                }
            }
        }
        for m in d["Metrics"].as_array().ok_or("Metrics is not an array")? {
            let name = m["Name"].as_str().ok_or("a metric without Name")?;
            match &doc[name] {
                Value::Number(_) => {}
                Value::Array(vs) if vs.len() <= MAX_VALUES && vs.iter().all(Value::is_number) => {}
                other => return Err(format!("metric {name} is not a number or list of numbers: {other}")),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_become_valid_documents_of_their_increments() {
        let recorder = EmfRecorder::default();
        metrics::with_local_recorder(&recorder, || {
            metrics::describe_histogram!("roster_apply_duration_seconds", Unit::Seconds, "apply");
            metrics::counter!("roster_records_accepted_total", "tenant" => "t1", "format" => "csv")
                .increment(3);
            metrics::counter!("roster_records_accepted_total", "tenant" => "t2", "format" => "csv")
                .increment(2);
            for i in 0..150 {
                metrics::histogram!("roster_apply_duration_seconds").record(f64::from(i) / 1000.0);
            }
        });
        let feeds =
            GaugeSample { name: "roster_feeds", labels: vec![("status", "halted".into())], value: 1.0 };
        let lines = recorder.flush(std::slice::from_ref(&feeds), 1_800_000_000_000);
        for line in &lines {
            validate(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        let docs: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let total = docs.iter().find(|d| d["Format"] == "csv" && d.get("Tenant").is_none()).unwrap();
        assert_eq!(total["RecordsAccepted"], 5.0, "the platform's total, without the tenant: {total}");
        let t1 = docs.iter().find(|d| d["Tenant"] == "t1").unwrap();
        assert_eq!(t1["RecordsAccepted"], 3.0);
        assert_eq!(t1["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Format", "Tenant"]]));
        let samples: usize =
            docs.iter().filter_map(|d| d["ApplyDurationSeconds"].as_array()).map(|v| v.len()).sum();
        assert_eq!(samples, 150, "every sample, in documents of at most 100");
        let halted = docs.iter().find(|d| d["Status"] == "halted").unwrap();
        assert_eq!(halted["Feeds"], 1.0);

        // The next flush carries what happened since: nothing, as zeros.
        let again = recorder.flush(&[], 1_800_000_060_000);
        let docs: Vec<Value> = again.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let t1 = docs.iter().find(|d| d["Tenant"] == "t1").unwrap();
        assert_eq!(t1["RecordsAccepted"], 0.0);
        assert!(docs.iter().all(|d| d.get("ApplyDurationSeconds").is_none()));
    }

    #[test]
    fn the_validator_catches_what_cloudwatch_refuses() {
        let ok = r#"{"_aws":{"Timestamp":1800000000000,"CloudWatchMetrics":[{"Namespace":"Roster","Dimensions":[["Tenant"]],"Metrics":[{"Name":"A"}]}]},"Tenant":"t","A":1}"#;
        assert_eq!(validate(ok), Ok(()));
        for (bad, why) in [
            (ok.replace("1800000000000", "1800000000"), "milliseconds"),
            (ok.replace(r#","Tenant":"t""#, ""), "dimension Tenant"),
            (ok.replace(r#""A":1"#, r#""A":"1""#), "metric A"),
        ] {
            assert!(validate(&bad).unwrap_err().contains(why), "{bad}");
        }
    }

    #[test]
    fn names_follow_cloudwatch_conventions() {
        assert_eq!(emf_name("roster_records_accepted_total"), "RecordsAccepted");
        assert_eq!(emf_name("roster_outbox_backlog"), "OutboxBacklog");
        assert_eq!(emf_name("roster_queue_dlq_messages"), "QueueDlqMessages");
    }
}
