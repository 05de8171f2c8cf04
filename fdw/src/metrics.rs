//! The backend's counters behind `odp.metrics()`: fed by the FDW core from the numeric
//! EXPLAIN lines every scan reports, so a new source gets metrics without extra code.

use std::collections::BTreeMap;
use std::sync::Mutex;

static COUNTERS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// `"Delta Files Read"` → `odp_delta_files_read_total`.
fn metric_name(label: &str) -> String {
    let snake: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("odp_{snake}_total")
}

/// Adds the numeric values of `lines` to the counters.
pub fn record(lines: &[(String, String)]) {
    let Ok(mut counters) = COUNTERS.lock() else {
        return;
    };
    for (label, value) in lines {
        if let Ok(n) = value.parse::<u64>() {
            *counters.entry(metric_name(label)).or_default() += n;
        }
    }
}

/// Increments one counter by one.
pub fn increment(name: &str) {
    if let Ok(mut counters) = COUNTERS.lock() {
        *counters.entry(format!("odp_{name}_total")).or_default() += 1;
    }
}

/// Every counter, by metric name.
pub fn counters() -> BTreeMap<String, u64> {
    COUNTERS.lock().map(|c| c.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_become_prometheus_names() {
        assert_eq!(
            metric_name("Delta Files Read"),
            "odp_delta_files_read_total"
        );
    }

    #[test]
    fn numeric_lines_add_up_under_prometheus_names() {
        record(&[
            ("Delta Files Read".into(), "3".into()),
            ("Delta Version".into(), "v7".into()),
        ]);
        record(&[("Delta Files Read".into(), "2".into())]);
        increment("scans");
        let counters = counters();
        assert_eq!(counters.get("odp_delta_files_read_total"), Some(&5));
        assert!(!counters.contains_key("odp_delta_version_total"));
        assert_eq!(counters.get("odp_scans_total"), Some(&1));
    }
}
