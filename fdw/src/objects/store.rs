//! The store behind an object server: an S3 client (with the server's time-outs and a
//! short retry budget) or a local directory, addressed by table keys.

use super::error::{classify, ObjectError, Result};
use super::keys::Listing;
use super::options::{Root, ServerOptions};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use object_store::aws::AmazonS3;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};
use std::sync::Arc;
use std::time::Duration;

/// Parts of a multipart upload.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// What a listing or a lookup tells about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// the key, relative to the server's root
    pub key: String,
    /// bytes
    pub size: u64,
    /// the store's version tag
    pub etag: Option<String>,
    /// last write
    pub last_modified: DateTime<Utc>,
    /// `Content-Type`, when the store keeps one
    pub content_type: Option<String>,
    /// user metadata (`x-amz-meta-*`), when the store keeps it
    pub metadata: Option<Vec<(String, String)>>,
}

/// The directory (under the server root) where writers upload content until their
/// transaction commits; listings never show it.
pub const STAGING_DIR: &str = ".odp-staging/";

/// An opened object store.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    signer: Option<Arc<AmazonS3>>,
    /// the key prefix of the server root inside the bucket ("" or ending in `/`)
    base: String,
    /// whether listings come in key order (S3), so a prefix listing can stop early
    pub sorted_listing: bool,
    /// whether the store keeps content types and user metadata
    pub keeps_attributes: bool,
    endpoint: String,
    timeout_ms: u64,
    local_dir: Option<std::path::PathBuf>,
    root_name: String,
}

impl Store {
    /// Opens the store of a server (no request is sent).
    pub fn open(server: &ServerOptions) -> Result<Store> {
        match &server.root {
            Root::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| ObjectError::BadRoot {
                    root: dir.display().to_string(),
                    reason: e.to_string(),
                })?;
                let local =
                    LocalFileSystem::new_with_prefix(dir).map_err(|e| ObjectError::BadRoot {
                        root: dir.display().to_string(),
                        reason: e.to_string(),
                    })?;
                Ok(Store {
                    inner: Arc::new(local),
                    signer: None,
                    base: String::new(),
                    sorted_listing: false,
                    keeps_attributes: false,
                    endpoint: server.endpoint_name(),
                    timeout_ms: server.s3.request_timeout_ms,
                    local_dir: Some(dir.clone()),
                    root_name: server.root.describe(),
                })
            }
            Root::S3 { bucket, base } => {
                let bad_root = |reason: String| ObjectError::BadRoot {
                    root: server.root.describe(),
                    reason,
                };
                let builder = server.s3.builder(bucket).map_err(bad_root)?;
                let s3 = Arc::new(builder.build().map_err(|e| bad_root(e.to_string()))?);
                Ok(Store {
                    inner: s3.clone(),
                    signer: Some(s3),
                    base: base.clone(),
                    sorted_listing: true,
                    keeps_attributes: true,
                    endpoint: server.endpoint_name(),
                    timeout_ms: server.s3.request_timeout_ms,
                    local_dir: None,
                    root_name: server.root.describe(),
                })
            }
        }
    }

    /// The error a store failure on `key` is.
    pub fn error(&self, error: object_store::Error, key: &str) -> ObjectError {
        classify(
            error,
            key,
            &self.endpoint,
            self.timeout_ms,
            self.local_dir.as_deref(),
        )
    }

    /// The store path of `key`.
    pub fn location(&self, key: &str) -> Result<Path> {
        self.path(key)
    }

    /// The underlying `object_store` client.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// The directory of a local root (paths are relative to it).
    pub fn local_root(&self) -> Option<std::path::PathBuf> {
        self.local_dir.clone()
    }

    /// How messages name the root.
    pub fn describe(&self) -> String {
        self.root_name.clone()
    }

    /// Whether the store can hold `key`: a local root cannot hold a file name whose part
    /// after its first `#` is all digits (`object_store` writes its temporary files so,
    /// and its listings skip them).
    pub fn could_hold(&self, key: &str) -> bool {
        let file_name = key.rsplit('/').next().unwrap_or(key);
        let temporary_form = file_name.split_once('#').is_some_and(|(_, suffix)| {
            !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit())
        });
        self.local_dir.is_none() || !temporary_form
    }

    fn path(&self, key: &str) -> Result<Path> {
        let full = format!("{}{}", self.base, key);
        Path::parse(&full).map_err(|e| ObjectError::BadKey {
            key: key.to_string(),
            reason: e.to_string(),
        })
    }

    fn key_of(&self, location: &Path) -> Option<String> {
        location
            .as_ref()
            .strip_prefix(self.base.as_str())
            .map(str::to_string)
    }

    /// Lists the objects a listing names, as (key, metadata) in the store's order;
    /// objects outside the server's base are skipped.
    pub fn list(&self, listing: &Listing) -> Result<BoxStream<'static, Result<ObjectInfo>>> {
        let dir = match (&listing.dir, self.base.trim_end_matches('/')) {
            (Some(dir), _) => Some(self.path(dir)?),
            (None, "") => None,
            (None, base) => Some(self.path_of_base(base)?),
        };
        let stream = match &listing.start_after {
            Some(after) => self
                .inner
                .list_with_offset(dir.as_ref(), &self.path(after)?),
            None => self.inner.list(dir.as_ref()),
        };
        let this = self.clone();
        Ok(stream
            .filter_map(move |item| {
                let out = match item {
                    Ok(meta) => this
                        .info(&meta, None)
                        .filter(|info| !info.key.starts_with(STAGING_DIR))
                        .map(Ok),
                    Err(e) => Some(Err(this.error(e, listing_name(&this.base)))),
                };
                futures::future::ready(out)
            })
            .boxed())
    }

    fn path_of_base(&self, base: &str) -> Result<Path> {
        Path::parse(base).map_err(|e| ObjectError::BadRoot {
            root: base.to_string(),
            reason: e.to_string(),
        })
    }

    fn info(&self, meta: &ObjectMeta, attributes: Option<&Attributes>) -> Option<ObjectInfo> {
        let key = self.key_of(&meta.location)?;
        let (content_type, metadata) = match attributes {
            Some(attributes) if self.keeps_attributes => {
                let content_type = attributes
                    .get(&Attribute::ContentType)
                    .map(|v| v.to_string());
                let metadata = attributes
                    .iter()
                    .filter_map(|(k, v)| match k {
                        Attribute::Metadata(name) => Some((name.to_string(), v.to_string())),
                        _ => None,
                    })
                    .collect();
                (content_type, Some(metadata))
            }
            _ => (None, None),
        };
        Some(ObjectInfo {
            key,
            size: meta.size,
            etag: meta.e_tag.clone(),
            last_modified: meta.last_modified,
            content_type,
            metadata,
        })
    }

    /// The object `key` with its attributes, or `None` when there is none.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.inner.get_opts(&self.path(key)?, options).await {
            Ok(result) => Ok(self.info(&result.meta, Some(&result.attributes))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e, key)),
        }
    }

    /// The object `key` and its content, or `None` when there is none; an object larger
    /// than `limit` bytes is an error before its content is read.
    pub async fn get(&self, key: &str, limit: u64) -> Result<Option<(ObjectInfo, Bytes)>> {
        let result = match self
            .inner
            .get_opts(&self.path(key)?, GetOptions::default())
            .await
        {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.error(e, key)),
        };
        let too_large = |size: u64| ObjectError::TooLarge {
            key: key.to_string(),
            size,
            limit,
        };
        if result.meta.size > limit {
            return Err(too_large(result.meta.size));
        }
        let Some(info) = self.info(&result.meta, Some(&result.attributes)) else {
            return Ok(None);
        };
        let mut content = Vec::with_capacity(result.meta.size as usize);
        let mut chunks = result.into_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|e| self.error(e, key))?;
            if (content.len() + chunk.len()) as u64 > limit {
                return Err(too_large((content.len() + chunk.len()) as u64));
            }
            content.extend_from_slice(&chunk);
        }
        Ok(Some((info, Bytes::from(content))))
    }

    /// Uploads `content` as `key` in one request, under `mode`.
    pub async fn put(
        &self,
        key: &str,
        content: Bytes,
        attributes: Attributes,
        mode: PutMode,
    ) -> Result<()> {
        let options = PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        };
        self.inner
            .put_opts(&self.path(key)?, PutPayload::from(content), options)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, key))
    }

    /// Uploads `content` as `key` in parts (an existing object is replaced).
    pub async fn put_multipart(
        &self,
        key: &str,
        content: Bytes,
        attributes: Attributes,
    ) -> Result<()> {
        let options = PutMultipartOptions {
            attributes,
            ..PutMultipartOptions::default()
        };
        let upload = self
            .inner
            .put_multipart_opts(&self.path(key)?, options)
            .await
            .map_err(|e| self.error(e, key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        writer.put(content);
        writer
            .finish()
            .await
            .map(|_| ())
            .map_err(|e| self.error(e, key))
    }

    /// Copies `from` to `to` inside the store (server-side; content type and metadata
    /// go with it), replacing `to`.
    pub async fn copy(&self, from: &str, to: &str) -> Result<()> {
        self.inner
            .copy(&self.path(from)?, &self.path(to)?)
            .await
            .map_err(|e| self.error(e, to))
    }

    /// Deletes `key` (deleting a missing object succeeds).
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.error(e, key)),
        }
    }

    /// A URL that lets its holder run `method` on `key` until `expires` from now,
    /// signed with the user mapping's credentials.
    pub async fn presign(&self, method: &str, key: &str, expires: Duration) -> Result<String> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            ObjectError::Unsupported(
                "presigned URLs need an S3 server (this root is a local directory)".into(),
            )
        })?;
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => http::Method::GET,
            "PUT" => http::Method::PUT,
            "HEAD" => http::Method::HEAD,
            "DELETE" => http::Method::DELETE,
            _ => {
                return Err(ObjectError::Unsupported(
                    "method must be GET, PUT, HEAD or DELETE".into(),
                ))
            }
        };
        signer
            .signed_url(method, &self.path(key)?, expires)
            .await
            .map(|url| url.to_string())
            .map_err(|e| self.error(e, key))
    }
}

fn listing_name(base: &str) -> &str {
    if base.is_empty() {
        "(bucket listing)"
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::keys::listing;
    use crate::options::Options;
    use futures::TryStreamExt;

    /// A store over a local directory of its own, removed when dropped.
    struct Scratch {
        dir: std::path::PathBuf,
        store: Store,
    }

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "odp-objects-store-{}",
                crate::runtime::unique_name()
            ));
            // (the store creates its root)
            let server = ServerOptions::from_options(
                &Options::new([("root".to_string(), dir.display().to_string())]),
                &Options::default(),
                "/nonexistent",
            )
            .unwrap();
            let store = Store::open(&server).unwrap();
            assert!(dir.is_dir());
            Scratch { dir, store }
        }

        fn put(&self, key: &str, content: &[u8], mode: PutMode) -> Result<()> {
            let content = Bytes::copy_from_slice(content);
            run(self.store.put(key, content, Attributes::new(), mode))
        }

        fn get(&self, key: &str) -> Option<Vec<u8>> {
            run(self.store.get(key, 1 << 20))
                .map(|found| found.map(|(_, c)| c.to_vec()))
                .unwrap()
        }

        fn keys(&self, prefix: &str) -> Vec<String> {
            let mut keys: Vec<String> = run(async {
                self.store
                    .list(&listing(prefix))?
                    .map_ok(|info| info.key)
                    .try_collect()
                    .await
            })
            .unwrap();
            keys.sort();
            keys
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn run<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        crate::runtime::block_on(future).unwrap()
    }

    #[test]
    fn objects_put_are_got_back_with_their_metadata() {
        let scratch = Scratch::new();
        scratch
            .put("t/a.txt", b"hello", PutMode::Overwrite)
            .unwrap();
        let (info, content) = run(scratch.store.get("t/a.txt", 1024)).unwrap().unwrap();
        assert_eq!(&content[..], b"hello");
        assert_eq!(info.key, "t/a.txt");
        assert_eq!(info.size, 5);
        assert_eq!(
            info.content_type, None,
            "a local root keeps no content type"
        );
        assert_eq!(
            std::fs::read(scratch.dir.join("t/a.txt")).unwrap(),
            b"hello"
        );
        let head = run(scratch.store.head("t/a.txt")).unwrap().unwrap();
        assert_eq!((head.key.as_str(), head.size), ("t/a.txt", 5));
        assert_eq!(head.etag, info.etag);
        // missing objects are None, not errors
        assert!(run(scratch.store.head("t/b.txt")).unwrap().is_none());
        assert!(scratch.get("t/b.txt").is_none());
        // overwriting replaces the content
        scratch.put("t/a.txt", b"bye", PutMode::Overwrite).unwrap();
        assert_eq!(scratch.get("t/a.txt").unwrap(), b"bye");
    }

    #[test]
    fn a_create_only_put_leaves_an_existing_object_alone() {
        let scratch = Scratch::new();
        scratch.put("k", b"first", PutMode::Create).unwrap();
        assert!(matches!(
            scratch.put("k", b"second", PutMode::Create),
            Err(ObjectError::AlreadyExists(key)) if key == "k"
        ));
        assert_eq!(scratch.get("k").unwrap(), b"first");
    }

    #[test]
    fn content_past_the_limit_is_refused() {
        let scratch = Scratch::new();
        scratch.put("big", &[7u8; 100], PutMode::Overwrite).unwrap();
        assert!(matches!(
            run(scratch.store.get("big", 99)),
            Err(ObjectError::TooLarge { key, size: 100, limit: 99 }) if key == "big"
        ));
        assert_eq!(
            run(scratch.store.get("big", 100)).unwrap().unwrap().1.len(),
            100
        );
    }

    #[test]
    fn listings_name_keys_under_a_prefix_and_hide_staged_uploads() {
        let scratch = Scratch::new();
        for key in [
            "t/a",
            "t/b",
            "t/sub/c",
            "u/d",
            "tx",
            &format!("{STAGING_DIR}1/t/e"),
        ] {
            scratch.put(key, b"x", PutMode::Overwrite).unwrap();
        }
        assert_eq!(scratch.keys("t/"), vec!["t/a", "t/b", "t/sub/c"]);
        assert_eq!(scratch.keys(""), vec!["t/a", "t/b", "t/sub/c", "tx", "u/d"]);
        // a prefix ending inside a segment lists that directory's keys after it (the
        // scan keeps those starting with the prefix)
        assert!(scratch.keys("t/b").contains(&"t/sub/c".to_string()));
        assert!(!scratch.keys("t/b").contains(&"t/a".to_string()));
        assert!(scratch.keys("v/").is_empty());
    }

    #[test]
    fn deletes_copies_and_multipart_uploads() {
        let scratch = Scratch::new();
        scratch.put("a", b"one", PutMode::Overwrite).unwrap();
        run(scratch.store.copy("a", "dir/b")).unwrap();
        assert_eq!(scratch.get("dir/b").unwrap(), b"one");
        run(scratch.store.delete("a")).unwrap();
        assert!(scratch.get("a").is_none());
        // deleting what is not there succeeds
        run(scratch.store.delete("a")).unwrap();
        let large = Bytes::from(vec![3u8; PART_BYTES + 10]);
        run(scratch
            .store
            .put_multipart("m", large.clone(), Attributes::new()))
        .unwrap();
        assert_eq!(
            run(scratch.store.get("m", u64::MAX)).unwrap().unwrap().1,
            large
        );
    }

    #[test]
    fn keys_a_local_root_cannot_hold_or_address() {
        let scratch = Scratch::new();
        let store = &scratch.store;
        // object_store's temporary files are named `<name>#<digits>`
        assert!(!store.could_hold("t/a#12"));
        assert!(store.could_hold("t/a#"));
        assert!(store.could_hold("t/a#1x"));
        assert!(store.could_hold("t/a#12/b"));
        assert!(matches!(
            store.location("a//b"),
            Err(ObjectError::BadKey { .. })
        ));
        assert!(matches!(
            run(store.presign("GET", "a", Duration::from_secs(60))),
            Err(ObjectError::Unsupported(_))
        ));
        assert_eq!(store.local_root(), Some(scratch.dir.clone()));
    }

    #[test]
    fn store_errors_do_not_show_the_root_directory() {
        let scratch = Scratch::new();
        scratch.put("file", b"x", PutMode::Overwrite).unwrap();
        // a key below a file cannot be written
        let error = scratch
            .put("file/below", b"y", PutMode::Overwrite)
            .unwrap_err();
        let text = error.to_string();
        let root = scratch.dir.display().to_string();
        assert!(!text.contains(&root), "{text}");
        assert!(
            text.contains("file/below") && text.contains("<root>"),
            "{text}"
        );
    }
}
