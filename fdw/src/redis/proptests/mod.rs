//! Property tests of the Redis adapter: key templates read back what they render,
//! `SCAN MATCH` patterns match exactly the keys they describe (against a port of
//! Redis's glob matcher), key plans never miss a matching key, and stored values decode
//! to what Postgres's input functions give, or to a clear error.

mod keys;
mod values;

/// Characters of key values: the literal ones and braces.
const VALUE: &[char] = &[
    ':', '/', '*', '?', '[', ']', '\\', '^', '-', 'a', 'b', '\n', 'é', '{', '}',
];
