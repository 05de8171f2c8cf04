//! Which Cypher text may run in `odp.cypher`'s read-only mode.
//!
//! A read-only query runs in a transaction that is rolled back, but rolling back does
//! not undo everything a server does: `CALL { ... } IN TRANSACTIONS` commits its inner
//! transactions itself, index and constraint DDL and administration commands commit on
//! their own, and procedures may write through their own transactions. So read-only
//! mode accepts only queries without a clause or command that could change the graph
//! or the server: the text is scanned as Cypher's lexer would (string literals,
//! backtick-quoted names and comments skipped; property names after `.`, labels after
//! `:`, parameters after `$` and map keys before `:` are not keywords), and any
//! write keyword, `IN TRANSACTIONS`, or `CALL` of a procedure refuses it. Erring on the
//! side of refusal is intended: members of `odp_graph_writer` pass `write => true`.

/// Keywords that start a clause or command which can change data, schema or the
/// server (Cypher keywords are case-insensitive).
/// (`INSERT` is GQL's CREATE in Neo4j 5; `TRANSACTIONS` ends every `CALL { ... } IN
/// [n] [CONCURRENT] TRANSACTIONS`.)
const WRITE_KEYWORDS: &[&str] = &[
    "CREATE",
    "INSERT",
    "MERGE",
    "DELETE",
    "DETACH",
    "SET",
    "REMOVE",
    "DROP",
    "FOREACH",
    "LOAD",
    "ALTER",
    "GRANT",
    "REVOKE",
    "DENY",
    "RENAME",
    "START",
    "STOP",
    "TERMINATE",
    "ENABLE",
    "DISABLE",
    "DEALLOCATE",
    "REALLOCATE",
    "USE",
    "FINISH",
    "TRANSACTIONS",
];

/// The first thing in `query` that read-only mode refuses (e.g. `CREATE`,
/// `IN TRANSACTIONS`, `CALL db.createIndex`), or `None` when it has none.
pub fn write_in(query: &str) -> Option<String> {
    let words = words(query);
    for (i, word) in words.iter().enumerate() {
        let Token::Word(text) = word else { continue };
        let upper = text.to_ascii_uppercase();
        let next = words.get(i + 1);
        if upper == "TRANSACTIONS" {
            return Some("IN TRANSACTIONS".into());
        }
        if WRITE_KEYWORDS.contains(&upper.as_str()) {
            return Some(upper);
        }
        // `CALL { ... }` is a subquery (checked like the rest); `CALL name(...)` runs a
        // procedure, which may write
        if upper == "CALL" && !matches!(next, Some(Token::Open)) {
            let name = match next {
                Some(Token::Word(w)) => format!("CALL {w}"),
                _ => "CALL".into(),
            };
            return Some(name);
        }
    }
    None
}

/// What the scan keeps of the query text.
#[derive(Debug, PartialEq)]
enum Token {
    /// an unquoted word that can be a keyword
    Word(String),
    /// `{`
    Open,
    /// anything else that separates words (punctuation, a literal, a quoted name)
    Other,
}

/// The query's unquoted words in order, with `{` marked; literals, quoted names,
/// comments and words that cannot be keywords (after `.`, `:` or `$`, or before `:`)
/// become [`Token::Other`].
fn words(query: &str) -> Vec<Token> {
    let chars: Vec<char> = query.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut after_name_marker = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            i = skip_string(&chars, i);
            out.push(Token::Other);
            after_name_marker = false;
        } else if c == '`' {
            i = skip_quoted_name(&chars, i);
            out.push(Token::Other);
            after_name_marker = false;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let map_key = next_non_space(&chars, i) == Some(':');
            out.push(if after_name_marker || map_key {
                Token::Other
            } else {
                Token::Word(word)
            });
            after_name_marker = false;
        } else if c.is_whitespace() {
            i += 1;
        } else {
            after_name_marker = matches!(c, '.' | ':' | '$');
            out.push(if c == '{' { Token::Open } else { Token::Other });
            i += 1;
        }
    }
    out
}

/// The first character at or after `i` that is not white space.
fn next_non_space(chars: &[char], mut i: usize) -> Option<char> {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    chars.get(i).copied()
}

/// The index after the string literal starting at `start` (backslash escapes).
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The index after the backtick-quoted name starting at `start` (a doubled backtick
/// is one backtick inside the name).
fn skip_quoted_name(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        if chars[i] == '`' {
            if chars.get(i + 1) == Some(&'`') {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_accepted() {
        for query in [
            "MATCH (n:User {user_id: $id}) RETURN n",
            "MATCH (u:User)-[:PURCHASED]->(p) WHERE p.name STARTS WITH 'x' RETURN count(p) AS n",
            "MATCH (n) RETURN n.set, n.create, {delete: 1, merge: 2} AS m",
            "MATCH (n:Create)-[:DELETE]->(m:`SET`) RETURN $merge",
            "MATCH (n) WHERE n.name = 'CREATE (x)' RETURN n // DELETE n",
            "MATCH (n) /* SET n.x = 1 */ RETURN n",
            "MATCH (n) CALL { WITH n MATCH (n)-->(m) RETURN count(m) AS c } RETURN c",
            "SHOW INDEXES",
            "MATCH (n) WHERE n.x IN [1, 2] RETURN n",
            "RETURN \"it\\\"s CREATE\" AS s",
        ] {
            assert_eq!(write_in(query), None, "{query}");
        }
    }

    #[test]
    fn writes_and_their_disguises_are_refused() {
        for (query, found) in [
            ("CREATE (n:User)", "CREATE"),
            ("match (n) detach delete n", "DETACH"),
            ("MATCH (n) SET n.x = 1", "SET"),
            ("MERGE (n:User {user_id: 'x'})", "MERGE"),
            (
                "UNWIND range(1, 3) AS i CALL { WITH i MATCH (n) RETURN n } IN TRANSACTIONS RETURN 1",
                "IN TRANSACTIONS",
            ),
            ("CALL db.index.fulltext.createNodeIndex('x', ['L'], ['p'])", "CALL db"),
            ("CALL apoc.create.node(['L'], {})", "CALL apoc"),
            ("DROP INDEX x", "DROP"),
            ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "LOAD"),
            ("MATCH (n) FOREACH (x IN [1] | SET n.y = x)", "FOREACH"),
            ("USE system CREATE USER x SET PASSWORD 'y'", "USE"),
            ("MATCH (n) REMOVE n:Label", "REMOVE"),
            ("INSERT (n:User {user_id: 'x'})", "INSERT"),
            (
                "UNWIND [1] AS i CALL { WITH i RETURN i } IN 4 CONCURRENT TRANSACTIONS RETURN i",
                "IN TRANSACTIONS",
            ),
            ("DEALLOCATE DATABASE PRIMARIES FROM SERVER 'x'", "DEALLOCATE"),
            ("MATCH (n)\nCREATE\n(m)", "CREATE"),
            ("RETURN `a``b` CREATE (x)", "CREATE"),
            ("RETURN 'unterminated", ""),
        ] {
            let got = write_in(query);
            if found.is_empty() {
                assert_eq!(got, None, "{query}");
            } else {
                assert_eq!(got.as_deref(), Some(found), "{query}");
            }
        }
    }
}
