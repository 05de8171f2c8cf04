//! Test-only fault points on commit paths, in the spirit of Postgres's injection points.
//!
//! The host's fault setting (`odp.test_fault`, superuser-only) lists points and what
//! happens there, as `point:action` separated by commas: `sleep=MS` waits that long
//! while checking for interrupts (so a test can cancel or kill the backend exactly
//! there), `error` fails the step as its storage would. With the setting empty a point
//! costs one lookup of it.

use std::time::{Duration, Instant};

/// The fault a point was told to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Sleep(Duration),
    Error,
}

/// A fault injected at a point, as an error of the step it stands in for. A setting
/// that does not parse is reported as a warning at each point and ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault injected at {0} (odp.test_fault)")]
pub struct Injected(pub String);

impl crate::source::Classify for Injected {
    fn class(&self) -> crate::source::ErrorClass {
        crate::source::ErrorClass::Io
    }
}

fn entries(setting: &str) -> Result<Vec<(&str, Action)>, String> {
    let mut out = Vec::new();
    for entry in setting.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (point, action) = entry
            .split_once(':')
            .ok_or_else(|| format!("fault \"{entry}\" is not point:action"))?;
        let action = match action {
            "error" => Action::Error,
            sleep => {
                let millis = sleep
                    .strip_prefix("sleep=")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .filter(|ms| *ms <= 600_000)
                    .ok_or_else(|| {
                        format!("fault action \"{sleep}\" is not error or sleep=MS (MS ≤ 600000)")
                    })?;
                Action::Sleep(Duration::from_millis(millis))
            }
        };
        out.push((point, action));
    }
    Ok(out)
}

/// Passes fault point `name`: sleeps or fails when the host's setting says so.
pub fn point(name: &str) -> Result<(), Injected> {
    let setting = crate::runtime::fault_setting();
    if setting.is_empty() {
        return Ok(());
    }
    let entries = match entries(&setting) {
        Ok(entries) => entries,
        Err(reason) => {
            crate::runtime::warning(&format!("odp.test_fault ignored: {reason}"));
            return Ok(());
        }
    };
    for (point, action) in entries {
        if point != name {
            continue;
        }
        match action {
            Action::Error => return Err(Injected(name.to_string())),
            Action::Sleep(duration) => {
                let until = Instant::now() + duration;
                while Instant::now() < until {
                    crate::runtime::check_interrupts();
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_or_are_refused() {
        assert_eq!(
            entries("a:error, b:sleep=20").unwrap(),
            vec![
                ("a", Action::Error),
                ("b", Action::Sleep(Duration::from_millis(20)))
            ]
        );
        assert!(entries("").unwrap().is_empty());
        assert!(entries("a").is_err());
        assert!(entries("a:sleep=x").is_err());
        assert!(entries("a:sleep=9999999").is_err());
        assert!(entries("a:crash").is_err());
    }

    #[test]
    fn points_without_a_host_do_nothing() {
        assert!(point("delta.before_log_entry").is_ok());
    }
}
