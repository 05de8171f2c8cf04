//! S3 and S3-compatible stores (MinIO, moto) for Delta tables, built by the storage
//! layer ([`crate::storage`]) with `object_store`'s own S3 client, as for object
//! tables.
//!
//! deltalake's `s3` feature would register the same client wrapped in the AWS SDK's
//! credential chain (profiles, SSO, STS), which ODP never uses: credentials come from
//! the user mapping, or requests go unsigned. Leaving that feature out removes the AWS
//! SDK from the build (minutes of a cold build on two cores; docs/architecture.md).
//! Commits use the default log store: a new log entry is a conditional put
//! (`If-None-Match: *`), which S3, MinIO and moto honour.

use crate::storage::S3Config;
use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory,
    ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use object_store::aws::AmazonS3Builder;
use object_store::ObjectStoreScheme;
use std::sync::{Arc, Once};
use url::Url;

/// The URL schemes of S3 locations.
const SCHEMES: [&str; 2] = ["s3://", "s3a://"];

/// Makes deltalake open `s3://` and `s3a://` tables through [`S3Stores`]; idempotent.
pub(super) fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for scheme in SCHEMES {
            let url = Url::parse(scheme).expect("a scheme is a URL");
            object_store_factories().insert(url.clone(), Arc::new(S3Stores));
            logstore_factories().insert(url, Arc::new(S3Stores));
        }
    });
}

/// Builds the S3 client of a table location from its `AWS_*` storage options.
struct S3Stores;

impl ObjectStoreFactory for S3Stores {
    fn parse_url_opts(
        &self,
        url: &Url,
        config: &StorageConfig,
    ) -> DeltaResult<(ObjectStoreRef, Path)> {
        let store = s3_builder(url, &config.raw)?.build()?;
        let (_, prefix) =
            ObjectStoreScheme::parse(url).map_err(|e| DeltaTableError::GenericError {
                source: Box::new(e),
            })?;
        Ok((Arc::new(store), prefix))
    }
}

impl LogStoreFactory for S3Stores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

/// The S3 client of the bucket of `url`, as the server's [`S3Config`] (read back from
/// the storage options [`S3Config::to_storage_options`] wrote) configures it.
fn s3_builder(
    url: &Url,
    options: &std::collections::HashMap<String, String>,
) -> DeltaResult<AmazonS3Builder> {
    let config = S3Config::from_storage_options(options).map_err(DeltaTableError::Generic)?;
    let bucket = url
        .host_str()
        .ok_or_else(|| DeltaTableError::Generic(format!("no bucket in {url}")))?;
    config.builder(bucket).map_err(DeltaTableError::Generic)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::aws::AmazonS3ConfigKey;
    use std::collections::HashMap;

    #[test]
    fn options_configure_the_client_of_the_url_bucket() {
        let url = Url::parse("s3://lake/warehouse/users/").unwrap();
        let options: HashMap<String, String> = [
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
            ("AWS_ACCESS_KEY_ID", "id"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let builder = s3_builder(&url, &options).unwrap();
        let get = |key| builder.get_config_value(&key);
        assert_eq!(
            get(AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(get(AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-1"));
        assert_eq!(
            get(AmazonS3ConfigKey::VirtualHostedStyleRequest).as_deref(),
            Some("false")
        );
        assert_eq!(get(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("id"));
        let store = builder.build().unwrap();
        assert!(store.to_string().contains("lake"), "{store}");
    }

    #[test]
    fn unknown_options_are_refused() {
        let url = Url::parse("s3://lake/t/").unwrap();
        let options = HashMap::from([("AWS_ENDPOINT_URLL".to_string(), "x".to_string())]);
        assert!(s3_builder(&url, &options).is_err());
    }

    #[test]
    fn tables_open_through_the_registered_factories() {
        register();
        let store = deltalake::logstore::store_for(
            &Url::parse("s3://lake/warehouse/users/").unwrap(),
            [("AWS_SKIP_SIGNATURE", "true"), ("AWS_REGION", "us-east-1")],
        );
        assert!(store.is_ok(), "{:?}", store.err());
    }
}
