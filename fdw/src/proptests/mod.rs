//! Property tests ("bad input", issue 25): support shared by the adapters' property
//! tests (the runner, strings over hostile alphabets, a model of Postgres's `LIKE`),
//! and the properties of the crate-level modules.
//!
//! Each adapter keeps its own properties in a `proptests` module beside its code. Every
//! property states its invariant in its doc comment: either a clear error, or exactly
//! what Postgres would produce.

mod options;
mod values;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// Checks a property: runs `test` on `cases` inputs drawn from `strategy`, and panics
/// with the failure and the minimal input proptest shrank it to. No regression file is
/// written into the source tree.
pub(crate) fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> TestCaseResult,
) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if let Err(failure) = TestRunner::new(config).run(&strategy, test) {
        panic!("{failure}");
    }
}

/// Strings of `len` characters drawn from `alphabet` (hostile characters are rare in
/// arbitrary strings: an alphabet makes collisions with separators likely).
pub(crate) fn string_from(
    alphabet: &'static [char],
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(alphabet), len)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Whether `text LIKE pattern` under Postgres's rules with the default escape `\`:
/// `%` matches any run of characters, `_` exactly one, `\x` the character `x`.
/// `None` for a pattern Postgres refuses (one ending in a lone escape).
pub(crate) fn like_matches(text: &str, pattern: &str) -> Option<bool> {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Any,
        One,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '%' => Token::Any,
            '_' => Token::One,
            '\\' => Token::Char(chars.next()?),
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    // matches[j]: whether the tokens seen so far match text[..j]
    let mut matches = vec![false; text.len() + 1];
    matches[0] = true;
    for token in tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::Any => matches[j] || (j > 0 && next[j - 1]),
                Token::One => j > 0 && matches[j - 1],
                Token::Char(c) => j > 0 && matches[j - 1] && text[j - 1] == c,
            };
        }
        matches = next;
    }
    Some(matches[text.len()])
}

#[test]
fn like_model_follows_postgres() {
    assert_eq!(like_matches("abc", "a%"), Some(true));
    assert_eq!(like_matches("abc", "a_c"), Some(true));
    assert_eq!(like_matches("abc", "a_"), Some(false));
    assert_eq!(like_matches("a%c", "a\\%c"), Some(true));
    assert_eq!(like_matches("abc", "a\\%c"), Some(false));
    assert_eq!(like_matches("", "%"), Some(true));
    assert_eq!(like_matches("ab", "ab\\"), None);
}
