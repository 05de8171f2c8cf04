//! Key templates: `users:{user_id}:features` names one key per value of `user_id`.
//!
//! Values are placed in keys literally (Redis keys are binary-safe), so a value holding
//! `*`, `?`, `[`, `{` or a newline names exactly the key with those characters. Glob
//! patterns for `SCAN MATCH` escape them. Reading a key back splits it at the template's
//! literals; values whose key would split differently are refused (writes) or name no
//! key (lookups), so a key always belongs to exactly one row.

use super::error::{RedisError, Result};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// text copied into the key
    Literal(String),
    /// the value of a column
    Column(String),
}

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    text: String,
    parts: Vec<Part>,
}

impl KeyTemplate {
    /// Parses `text`: literals with `{column}` references; column names are letters,
    /// digits and `_`; two references need a literal between them.
    pub fn parse(text: &str) -> Result<KeyTemplate> {
        let bad = |reason: &str| RedisError::Template {
            template: text.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                            Some(_) => return Err(bad("column names are letters, digits and _")),
                            None => return Err(bad("unclosed {")),
                        }
                    }
                    if name.is_empty() {
                        return Err(bad("empty column name"));
                    }
                    if literal.is_empty() && matches!(parts.last(), Some(Part::Column(_))) {
                        return Err(bad("two columns need a literal between them"));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    if parts.iter().any(|p| *p == Part::Column(name.clone())) {
                        return Err(bad("a column appears twice"));
                    }
                    parts.push(Part::Column(name));
                }
                '}' => return Err(bad("unmatched }")),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        if parts.is_empty() {
            return Err(bad("empty template"));
        }
        Ok(KeyTemplate {
            text: text.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The columns the template references, in order.
    pub fn columns(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Column(c) => Some(c.as_str()),
                Part::Literal(_) => None,
            })
            .collect()
    }

    /// The key for `values` (one per column, in [`Self::columns`] order). Refuses
    /// values whose key would be read back as other values (a value holding the literal
    /// that separates it from the next key column), so a key names exactly one row.
    pub fn render(&self, values: &[&str]) -> Result<String> {
        let columns = self.columns();
        if values.len() != columns.len() {
            return Err(RedisError::KeyValue {
                column: columns.get(values.len()).unwrap_or(&"?").to_string(),
                reason: "no value".into(),
            });
        }
        let mut key = String::new();
        let mut next = values.iter();
        for part in &self.parts {
            match part {
                Part::Literal(l) => key.push_str(l),
                Part::Column(_) => key.push_str(next.next().expect("counted above")),
            }
        }
        let read_back = self.parse_key(&key);
        if read_back
            .as_deref()
            .is_some_and(|back| back.iter().eq(values.iter()))
        {
            return Ok(key);
        }
        let column = read_back
            .and_then(|back| {
                back.iter()
                    .zip(values)
                    .zip(&columns)
                    .find(|((b, v), _)| b != *v)
                    .map(|(_, c)| c.to_string())
            })
            .unwrap_or_else(|| columns.first().unwrap_or(&"?").to_string());
        Err(RedisError::KeyValue {
            column,
            reason: "the key would be read back as other key values (a value holds the literal that separates key columns)".into(),
        })
    }

    /// A `SCAN MATCH` pattern for keys of this template whose columns have the known
    /// values, or else start with the known prefixes (neither: any value); every literal
    /// character is escaped.
    pub fn pattern(&self, known: &[Option<&str>], prefixes: &[Option<String>]) -> String {
        let mut pattern = String::new();
        let mut column = 0;
        for part in &self.parts {
            match part {
                Part::Literal(l) => pattern.push_str(&glob_escape(l)),
                Part::Column(_) => {
                    match (known.get(column).copied().flatten(), prefixes.get(column)) {
                        (Some(value), _) => pattern.push_str(&glob_escape(value)),
                        (None, Some(Some(prefix))) => {
                            pattern.push_str(&glob_escape(prefix));
                            pattern.push('*');
                        }
                        _ => pattern.push('*'),
                    }
                    column += 1;
                }
            }
        }
        pattern
    }

    /// The column values of `key` (in [`Self::columns`] order), or `None` when the key
    /// does not have this template's shape. Each value ends at the first occurrence of
    /// the literal that follows it; the last one at the template's final literal.
    pub fn parse_key(&self, key: &str) -> Option<Vec<String>> {
        let mut rest = key;
        let mut values = Vec::new();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(l) => rest = rest.strip_prefix(l.as_str())?,
                Part::Column(_) => match self.parts.get(i + 1) {
                    None => {
                        values.push(rest.to_string());
                        rest = "";
                    }
                    Some(Part::Literal(l)) => {
                        let end = if i + 2 == self.parts.len() {
                            if !rest.ends_with(l.as_str()) {
                                return None;
                            }
                            rest.len() - l.len()
                        } else {
                            rest.find(l.as_str())?
                        };
                        values.push(rest[..end].to_string());
                        rest = &rest[end..];
                    }
                    Some(Part::Column(_)) => return None,
                },
            }
        }
        rest.is_empty().then_some(values)
    }
}

/// `text` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let t = KeyTemplate::parse("users:{user_id}:features").unwrap();
        assert_eq!(t.columns(), vec!["user_id"]);
        assert_eq!(t.render(&["42"]).unwrap(), "users:42:features");
        assert_eq!(
            t.parse_key("users:42:features"),
            Some(vec!["42".to_string()])
        );
        assert_eq!(t.parse_key("users:42:feature"), None);
        assert_eq!(t.parse_key("user:42:features"), None);
        // a value holding the suffix is still read back whole
        assert_eq!(
            t.parse_key("users:a:features:features"),
            Some(vec!["a:features".to_string()])
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["", "u:{", "u:{}", "u:}", "u:{a}{b}", "u:{a b}", "u:{a}:{a}"] {
            assert!(KeyTemplate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob_characters_are_matched_literally() {
        let t = KeyTemplate::parse("u:{id}:f").unwrap();
        assert_eq!(t.pattern(&[None], &[]), "u:*:f");
        assert_eq!(
            t.pattern(&[Some("a*b?[c]\\")], &[]),
            "u:a\\*b\\?\\[c\\]\\\\:f"
        );
        assert_eq!(t.pattern(&[None], &[Some("p?".into())]), "u:p\\?*:f");
        let hostile = "x*\n{y}?";
        let key = t.render(&[hostile]).unwrap();
        assert_eq!(key, "u:x*\n{y}?:f");
        assert_eq!(t.parse_key(&key), Some(vec![hostile.to_string()]));
    }

    #[test]
    fn ambiguous_values_are_refused_between_columns() {
        let t = KeyTemplate::parse("o:{org}:{user}").unwrap();
        assert_eq!(t.render(&["acme", "bob"]).unwrap(), "o:acme:bob");
        assert!(t.render(&["ac:me", "bob"]).is_err());
        let doubled = KeyTemplate::parse("o:{a}::{b}").unwrap();
        assert!(doubled.render(&["x:", "b"]).is_err());
        assert_eq!(doubled.render(&["x", ":b"]).unwrap(), "o:x:::b");
        assert_eq!(t.render(&["acme", "b:ob"]).unwrap(), "o:acme:b:ob");
        assert_eq!(
            t.parse_key("o:acme:b:ob"),
            Some(vec!["acme".to_string(), "b:ob".to_string()])
        );
        let no_columns = KeyTemplate::parse("config").unwrap();
        assert_eq!(no_columns.parse_key("config"), Some(vec![]));
    }
}
