//! Resource names and their patterns: `delta:transactions`, `objects:images/users/`,
//! `graph:PURCHASED`, `features:users:{user_id}:features`, matched by patterns where `*`
//! stands for any run of characters (`objects:images/users/*`, `features:*`).

/// An action a resource policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// reading rows
    Read,
    /// INSERT, UPDATE, DELETE
    Write,
    /// maintenance (compaction, vacuum, restore, dropping partitions)
    Admin,
}

impl Action {
    /// The name stored in `odp.resource_policies.action`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Admin => "admin",
        }
    }
}

/// Whether `name` matches `pattern` (`*` matches any run, including none; everything
/// else matches itself).
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == name;
    };
    if parts.len() == 1 {
        return pattern == name;
    }
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_any_run() {
        assert!(matches("objects:images/users/*", "objects:images/users/"));
        assert!(matches(
            "objects:images/users/*",
            "objects:images/users/u1.jpg"
        ));
        assert!(!matches(
            "objects:images/users/*",
            "objects:images/products/"
        ));
        assert!(matches("features:*", "features:users:{user_id}:features"));
        assert!(matches("delta:transactions", "delta:transactions"));
        assert!(!matches("delta:transactions", "delta:transactions_old"));
        assert!(matches("*:PURCHASED", "graph:PURCHASED"));
        assert!(matches("a*b*c", "a-b-c"));
        assert!(!matches("a*b*c", "a-c-b"));
        assert!(!matches("ab*ba", "aba"));
    }
}
