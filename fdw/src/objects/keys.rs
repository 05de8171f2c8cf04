//! Object keys: what a key may be, how it is confined to a table's prefix, and which
//! listing finds the keys starting with a prefix.
//!
//! A key is stored literally: `%2F` stays three characters, never a separator. Keys that
//! a store could read as another location (`..`, `.`, empty segments, a leading `/`,
//! control characters) are refused, so no key reaches outside the bucket's base or the
//! local root.

use super::error::{ObjectError, Result};
use object_store::path::Path;

/// The longest key S3 stores, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a key and returns it as a store path (relative to the server's base).
pub fn check_key(key: &str) -> Result<Path> {
    let refuse = |reason: &str| ObjectError::BadKey {
        key: shorten(key),
        reason: reason.to_string(),
    };
    if key.is_empty() {
        return Err(refuse("a key cannot be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(refuse(&format!("longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.starts_with('/') {
        return Err(refuse("a key cannot start with /"));
    }
    if key.ends_with('/') {
        return Err(refuse(
            "a key cannot end with / (that is a directory marker)",
        ));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(refuse("control characters are not allowed"));
    }
    if key
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(refuse("empty, . and .. path segments are not allowed"));
    }
    let path = Path::parse(key).map_err(|e| refuse(&e.to_string()))?;
    if path.as_ref() != key {
        return Err(refuse("not a canonical object path"));
    }
    Ok(path)
}

/// Checks a table or server prefix: empty, or the start of a valid key (it may end
/// with `/`).
pub fn check_prefix(prefix: &str) -> Result<()> {
    match prefix.strip_suffix('/').unwrap_or(prefix) {
        "" if prefix.is_empty() => Ok(()),
        "" => Err(ObjectError::BadKey {
            key: prefix.to_string(),
            reason: "a prefix cannot be /".into(),
        }),
        trimmed => check_key(trimmed).map(|_| ()),
    }
}

/// Checks that a key written to a table lies under its prefix.
pub fn confine(key: &str, prefix: &str) -> Result<Path> {
    let path = check_key(key)?;
    if !key.starts_with(prefix) {
        return Err(ObjectError::OutsidePrefix {
            key: shorten(key),
            prefix: prefix.to_string(),
        });
    }
    Ok(path)
}

/// Whether some valid key starts with `prefix` (a `LIKE 'p%'` prefix, say): its
/// complete segments are valid and it holds no control character. A prefix no key can
/// have matches nothing rather than failing the listing.
pub fn could_start_a_key(prefix: &str) -> bool {
    let complete = match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => return !prefix.chars().any(char::is_control) && prefix.len() <= MAX_KEY_BYTES,
    };
    !prefix.starts_with('/')
        && prefix.len() <= MAX_KEY_BYTES
        && !prefix.chars().any(char::is_control)
        && complete
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// A key cut for messages (at most 200 characters).
pub fn shorten(key: &str) -> String {
    match key.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &key[..i]),
        None => key.to_string(),
    }
}

/// The narrowest prefix two prefixes share rows under: the longer one when one extends
/// the other, `None` when no key can start with both.
pub fn narrower<'a>(a: &'a str, b: &'a str) -> Option<&'a str> {
    if a.starts_with(b) {
        Some(a)
    } else if b.starts_with(a) {
        Some(b)
    } else {
        None
    }
}

/// How to list the keys starting with a prefix: list the directory `dir` (a store
/// path, `None` for everything), from just after `start_after` when the prefix ends
/// inside a path segment. The key equal to `start_after` itself is not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// the directory to list
    pub dir: Option<String>,
    /// list only keys after this one (the prefix itself)
    pub start_after: Option<String>,
}

/// The listing for the keys starting with `prefix` (a key prefix relative to the
/// store's root, already checked).
pub fn listing(prefix: &str) -> Listing {
    // a partial last segment that is no path by itself (`.`, `..`) lists the whole
    // directory; the scan keeps only the keys starting with the prefix
    let after = || Path::parse(prefix).is_ok().then(|| prefix.to_string());
    match prefix.rfind('/') {
        None if prefix.is_empty() => Listing {
            dir: None,
            start_after: None,
        },
        None => Listing {
            dir: None,
            start_after: after(),
        },
        Some(i) if i + 1 == prefix.len() => Listing {
            dir: Some(prefix[..i].to_string()),
            start_after: None,
        },
        Some(i) => Listing {
            dir: Some(prefix[..i].to_string()),
            start_after: after(),
        },
    }
}

/// A content type guessed from a key's extension (`application/octet-stream` when
/// unknown).
pub fn guess_content_type(key: &str) -> &'static str {
    let extension = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "csv" => "text/csv",
        "txt" | "md" => "text/plain",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "parquet" => "application/vnd.apache.parquet",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_refused_or_literal() {
        for key in [
            "../etc/passwd",
            "a/../../b",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "dir/",
            "",
            "a\u{0}b",
            "tab\there",
        ] {
            assert!(check_key(key).is_err(), "{key:?} accepted");
        }
        let literal = check_key("images/a%2F..%2Fb.jpg").unwrap();
        assert_eq!(literal.as_ref(), "images/a%2F..%2Fb.jpg");
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        assert!(check_key("images/ünïcødé €.jpg").is_ok());
    }

    #[test]
    fn keys_are_confined_to_the_prefix() {
        assert!(confine("images/users/1.jpg", "images/users/").is_ok());
        assert!(matches!(
            confine("images/products/1.jpg", "images/users/"),
            Err(ObjectError::OutsidePrefix { .. })
        ));
        assert!(check_prefix("images/users/").is_ok());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("/").is_err());
        assert!(check_prefix("../x/").is_err());
    }

    #[test]
    fn listings_narrow_to_the_prefix() {
        assert_eq!(
            listing("images/products/"),
            Listing {
                dir: Some("images/products".into()),
                start_after: None
            }
        );
        assert_eq!(
            listing("images/products/12"),
            Listing {
                dir: Some("images/products".into()),
                start_after: Some("images/products/12".into())
            }
        );
        assert_eq!(
            listing("img"),
            Listing {
                dir: None,
                start_after: Some("img".into())
            }
        );
        assert_eq!(
            listing("images/.."),
            Listing {
                dir: Some("images".into()),
                start_after: None
            }
        );
        assert!(could_start_a_key("images/..b"));
        assert!(could_start_a_key("images/"));
        assert!(!could_start_a_key("images/../"));
        assert!(!could_start_a_key("images//"));
        assert!(!could_start_a_key("images/a\nb"));
        assert!(!could_start_a_key("/images"));
        assert_eq!(narrower("images/", "images/p"), Some("images/p"));
        assert_eq!(narrower("images/u", "images/p"), None);
    }

    #[test]
    fn content_types_come_from_extensions() {
        assert_eq!(guess_content_type("a/b.JPG"), "image/jpeg");
        assert_eq!(guess_content_type("a/b"), "application/octet-stream");
    }
}
