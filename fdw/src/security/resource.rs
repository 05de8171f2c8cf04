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

/// Whether `pattern` can match a name that starts with `scope` (a table whose data is
/// everything under a prefix is governed by every pattern reaching into it).
pub fn overlaps(pattern: &str, scope: &str) -> bool {
    match pattern.find('*') {
        None => pattern.starts_with(scope),
        Some(star) => {
            let literal = &pattern[..star];
            literal.starts_with(scope) || scope.starts_with(literal)
        }
    }
}

/// A resource a table reaches: one name, or everything under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// exactly this name (`delta:transactions`, `graph:PURCHASED`)
    Name(String),
    /// every name starting with this (`objects:images/`, `features:users:`)
    Under(String),
}

impl Resource {
    /// How errors name the resource.
    pub fn display(&self) -> String {
        match self {
            Resource::Name(name) => name.clone(),
            Resource::Under(prefix) => format!("{prefix}*"),
        }
    }

    /// Whether policies with `pattern` govern this resource.
    pub fn governed_by(&self, pattern: &str) -> bool {
        match self {
            Resource::Name(name) => matches(pattern, name),
            Resource::Under(prefix) => overlaps(pattern, prefix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_scopes_are_governed_by_every_pattern_reaching_into_them() {
        let images = Resource::Under("objects:images/".into());
        assert!(images.governed_by("objects:images/users/*"));
        assert!(images.governed_by("objects:*"));
        assert!(!images.governed_by("objects:documents/*"));
        let users = Resource::Under("objects:images/users/".into());
        assert!(users.governed_by("objects:images/users/*"));
        assert!(!Resource::Under("objects:images/products/".into())
            .governed_by("objects:images/users/*"));
        let any_key = Resource::Under("features:".into());
        assert!(any_key.governed_by("features:users:{user_id}:features"));
    }

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
