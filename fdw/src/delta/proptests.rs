//! Property tests of the statistics a Delta log records: parsed from the JSON writers
//! spell (strings truncated, timestamps in milliseconds, decimals and float4 through
//! doubles), they never skip a file holding a matching row. The model of values and
//! quals is the Parquet layer's (`parquet::proptests`).

use crate::delta::log::stats::parse_stats;
use crate::parquet::proptests::{case, schema, timestamp_text, written, Case, Pg};
use crate::parquet::prune::{Pruner, WriterZone};
use crate::proptests::check;
use proptest::prelude::*;

/// The file's statistics as a Delta writer puts them in the log: bounds in JSON
/// (strings truncated to 32 characters, timestamps to milliseconds, decimals exact or
/// through a double, float4 as itself or widened), and counts; each part may be absent.
fn stats_json(case: &Case, through_double: bool, omit: [bool; 3]) -> String {
    let quoted = |text: String| serde_json::to_string(&text).expect("a string");
    let bound = |v: &Pg, is_max: bool| -> Option<String> {
        Some(match v {
            Pg::Text(t) => {
                let mut t: String = t.chars().take(32).collect();
                if is_max && t.chars().count() == 32 {
                    t.push('\u{10FFFF}');
                }
                quoted(t)
            }
            Pg::Timestamp(micros) => {
                let millis = micros.div_euclid(1000) * 1000;
                quoted(timestamp_text(millis, "%Y-%m-%dT%H:%M:%S%.3fZ")?)
            }
            Pg::Dec(u, s) if through_double => format!("{:?}", *u as f64 / 10f64.powi(*s as i32)),
            Pg::Float4(f) if through_double && f.is_finite() => format!("{:?}", f64::from(*f)),
            Pg::Float8(f) if f.is_finite() => written(v, "")?,
            Pg::Float4(f) if f.is_finite() => written(v, "")?,
            Pg::Int(_) | Pg::Dec(..) => written(v, "")?,
            // dates, and the infinities Jackson writes as strings
            v => quoted(written(v, "")?),
        })
    };
    let mut parts = Vec::new();
    if !omit[0] {
        parts.push(format!("\"numRecords\":{}", case.rows.len()));
    }
    if !omit[1] {
        let nulls = case.rows.iter().filter(|r| r.is_none()).count();
        parts.push(format!("\"nullCount\":{{\"c\":{nulls}}}"));
    }
    if let (Some((min, max)), false) = (case.bounds(&case.rows), omit[2]) {
        if let (Some(min), Some(max)) = (bound(&min, false), bound(&max, true)) {
            parts.push(format!(
                "\"minValues\":{{\"c\":{min}}},\"maxValues\":{{\"c\":{max}}}"
            ));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// The same through the statistics JSON of the log, as writers spell it (strings
/// truncated, timestamps in milliseconds, decimals and float4 through doubles).
#[test]
fn logged_statistics_never_skip_a_matching_file() {
    check(
        512,
        (case(), any::<bool>(), any::<[bool; 3]>()),
        |(case, through_double, omit)| {
            let matching = case.some_row_matches(&case.rows);
            prop_assume!(matching.is_some(), "Postgres refuses the qual");
            let schema = schema(case.kind, false);
            let json = stats_json(&case, through_double, omit);
            let stats = parse_stats(&json, &schema).expect("statistics JSON parses");
            if matching == Some(true) {
                let pruner = Pruner::new(&schema, &case.quals(), WriterZone::Utc);
                prop_assert!(
                    pruner.stats_may_match(&stats),
                    "{} read as {:?}",
                    json,
                    stats
                );
            }
            Ok(())
        },
    );
}
