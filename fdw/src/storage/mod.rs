//! The storage layer under Delta tables and object tables: one S3 configuration (the
//! server options and user-mapping credentials both wrappers accept), one rule for its
//! time-outs and retries, and the client built from it. Delta reaches it through
//! deltalake's storage options ([`S3Config::to_storage_options`], read back by the
//! client factory Delta registers); object tables build their client directly.

use crate::options::{Kind, OptionSpec, Options};
use crate::security::secret::Secret;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, RetryConfig};
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

/// The server options of an S3 connection, shared by `delta_fdw` and `object_fdw`.
pub const SERVER_OPTIONS: [OptionSpec; 6] = [
    OptionSpec::optional("endpoint", Kind::Text),
    OptionSpec::optional("region", Kind::Text),
    OptionSpec::optional("path_style", Kind::Bool),
    OptionSpec::optional("allow_http", Kind::Bool),
    OptionSpec::optional("connect_timeout_ms", Kind::Millis),
    OptionSpec::optional("request_timeout_ms", Kind::Millis),
];

/// Who reads from where: a hash of storage options (endpoint, credentials, ...). What
/// the Parquet layer caches of a file is kept apart per scope, so a file two servers (or
/// two roles' credentials) name alike is never answered to one from what the other
/// read.
pub fn scope(options: &HashMap<String, String>) -> u64 {
    let mut sorted: Vec<_> = options.iter().collect();
    sorted.sort();
    let mut hasher = DefaultHasher::new();
    sorted.hash(&mut hasher);
    hasher.finish()
}

/// What a user mapping's credential must be.
const WHOLE_CREDENTIAL: &str =
    "access_key_id and secret_access_key together (and session_token only with both)";

/// Refuses a user mapping that names only part of a credential: an access key without
/// its secret (or the reverse), or a session token without both, would otherwise sign
/// nothing and read as anonymous.
pub fn validate_user_mapping(user: &Options) -> Result<(), crate::options::OptionError> {
    let config = S3Config::from_options(&Options::default(), user);
    if config.credentials_whole() {
        return Ok(());
    }
    Err(crate::options::OptionError::BadValue {
        name: if config.access_key_id.is_some() {
            "secret_access_key"
        } else {
            "access_key_id"
        }
        .into(),
        expected: WHOLE_CREDENTIAL.into(),
    })
}

/// A wrapper's server options: its own `before` and `after` the shared S3 ones.
pub fn server_options(before: &[OptionSpec], after: &[OptionSpec]) -> Vec<OptionSpec> {
    [before, &SERVER_OPTIONS, after].concat()
}

/// User mapping options: credentials, readable only by their owner and superusers.
pub const USER_MAPPING_OPTIONS: &[OptionSpec] = &[
    OptionSpec::optional("access_key_id", Kind::Text),
    OptionSpec::optional("secret_access_key", Kind::Text),
    OptionSpec::optional("session_token", Kind::Text),
];

/// The time-out of establishing a connection when the server sets none.
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// The time-out of one request, retries included, when the server sets none.
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// How to reach an S3-compatible store and sign for it.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    /// the endpoint (none: AWS)
    pub endpoint: Option<String>,
    /// the region
    pub region: String,
    /// path-style requests (`endpoint/bucket/key`), as MinIO and moto want
    pub path_style: bool,
    /// plain-HTTP endpoints allowed
    pub allow_http: bool,
    /// the access key of the user mapping (none: requests go unsigned)
    pub access_key_id: Option<String>,
    /// the secret of `access_key_id`
    pub secret_access_key: Option<Secret>,
    /// a temporary credential's token
    pub session_token: Option<Secret>,
    /// TCP connect time-out
    pub connect_timeout_ms: u64,
    /// time-out of one request, its retries included
    pub request_timeout_ms: u64,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .field("signed", &self.access_key_id.is_some())
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// The names of deltalake storage options an [`S3Config`] travels in.
mod keys {
    pub const ENDPOINT: &str = "AWS_ENDPOINT_URL";
    pub const REGION: &str = "AWS_REGION";
    pub const ALLOW_HTTP: &str = "AWS_ALLOW_HTTP";
    pub const VIRTUAL_HOSTED: &str = "AWS_VIRTUAL_HOSTED_STYLE_REQUEST";
    pub const ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
    pub const SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
    pub const SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
    pub const SKIP_SIGNATURE: &str = "AWS_SKIP_SIGNATURE";
    pub const CONNECT_TIMEOUT: &str = "odp_connect_timeout_ms";
    pub const REQUEST_TIMEOUT: &str = "odp_request_timeout_ms";
}

impl S3Config {
    /// The configuration of a server's options and the current user's mapping.
    pub fn from_options(server: &Options, user: &Options) -> S3Config {
        S3Config {
            endpoint: server.get("endpoint").map(str::to_string),
            region: server.get("region").unwrap_or("us-east-1").to_string(),
            path_style: server.bool("path_style", false),
            allow_http: server.bool("allow_http", false),
            access_key_id: user.get("access_key_id").map(str::to_string),
            secret_access_key: user.get("secret_access_key").map(Secret::new),
            session_token: user.get("session_token").map(Secret::new),
            // (at least 1 ms: a server created before zero was refused may hold 0)
            connect_timeout_ms: server
                .uint("connect_timeout_ms")
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_MS)
                .max(1),
            request_timeout_ms: server
                .uint("request_timeout_ms")
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_MS)
                .max(1),
        }
    }

    /// How messages name the store's endpoint.
    pub fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("s3.{}.amazonaws.com", self.region),
        }
    }

    /// What `odp.health()` probes for the store: its endpoint (HTTP), or AWS's regional
    /// endpoint.
    pub fn probe_target(&self) -> crate::health::Target {
        use crate::health::{network, Protocol};
        match &self.endpoint {
            Some(endpoint) => {
                let port = if endpoint.starts_with("https://") {
                    443
                } else {
                    80
                };
                network(endpoint, port, Protocol::Http)
            }
            None => network(&self.endpoint_name(), 443, Protocol::Tcp),
        }
    }

    /// The configuration's [`scope`]: the same as a Delta table's over it.
    pub fn scope(&self) -> u64 {
        scope(&self.to_storage_options())
    }

    /// Whether the user mapping names any credential: without one, requests go
    /// unsigned (a public bucket).
    fn has_credentials(&self) -> bool {
        self.access_key_id.is_some()
            || self.secret_access_key.is_some()
            || self.session_token.is_some()
    }

    /// Whether the credential is whole: a key with its secret, or none at all.
    fn credentials_whole(&self) -> bool {
        match (&self.access_key_id, &self.secret_access_key) {
            (Some(_), Some(_)) => true,
            (None, None) => self.session_token.is_none(),
            _ => false,
        }
    }

    /// A client builder for `bucket`: the connection and request time-outs bound every
    /// request, and a failed one is retried twice within the request time-out, so a
    /// store that is down fails a statement within it instead of object_store's minute
    /// of retries. Part of a credential is an error.
    pub fn builder(&self, bucket: &str) -> Result<AmazonS3Builder, String> {
        let request = Duration::from_millis(self.request_timeout_ms);
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&self.region)
            .with_virtual_hosted_style_request(!self.path_style)
            .with_allow_http(self.allow_http)
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
                format!("{}ms", self.connect_timeout_ms),
            )
            .with_config(
                AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
                format!("{}ms", self.request_timeout_ms),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(50),
                    max_backoff: Duration::from_millis(500),
                    base: 2.0,
                },
                max_retries: 2,
                retry_timeout: request,
            });
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        // part of a credential (a mapping older than its check at CREATE) must neither
        // go unsigned nor let the client look for the machine's own credentials
        if !self.credentials_whole() {
            return Err(format!(
                "the user mapping holds part of an S3 credential: expected {WHOLE_CREDENTIAL}"
            ));
        }
        let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) else {
            return Ok(builder.with_skip_signature(true));
        };
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret.expose());
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token.expose());
        }
        Ok(builder)
    }

    /// The configuration as deltalake storage options, which Delta hands to the client
    /// factory it registers ([`S3Config::from_storage_options`] reads them back).
    pub fn to_storage_options(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        let mut set = |key: &str, value: String| {
            out.insert(key.to_string(), value);
        };
        if let Some(endpoint) = &self.endpoint {
            set(keys::ENDPOINT, endpoint.clone());
        }
        set(keys::REGION, self.region.clone());
        set(keys::ALLOW_HTTP, self.allow_http.to_string());
        set(keys::VIRTUAL_HOSTED, (!self.path_style).to_string());
        set(keys::CONNECT_TIMEOUT, self.connect_timeout_ms.to_string());
        set(keys::REQUEST_TIMEOUT, self.request_timeout_ms.to_string());
        if !self.has_credentials() {
            set(keys::SKIP_SIGNATURE, "true".to_string());
        }
        if let Some(id) = &self.access_key_id {
            set(keys::ACCESS_KEY_ID, id.clone());
        }
        if let Some(secret) = &self.secret_access_key {
            set(keys::SECRET_ACCESS_KEY, secret.expose().to_string());
        }
        if let Some(token) = &self.session_token {
            set(keys::SESSION_TOKEN, token.expose().to_string());
        }
        out
    }

    /// The configuration [`S3Config::to_storage_options`] wrote; an option it does not
    /// write is an error, so a misspelt one never goes unnoticed.
    pub fn from_storage_options(options: &HashMap<String, String>) -> Result<S3Config, String> {
        let mut config = S3Config::from_options(&Options::default(), &Options::default());
        let flag = |value: &str| value.eq_ignore_ascii_case("true");
        let millis = |key: &str, value: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("storage option {key} is not a number: {value}"))
        };
        for (key, value) in options {
            match key.to_ascii_uppercase().as_str() {
                "AWS_ENDPOINT_URL" => config.endpoint = Some(value.clone()),
                "AWS_REGION" => config.region = value.clone(),
                "AWS_ALLOW_HTTP" => config.allow_http = flag(value),
                "AWS_VIRTUAL_HOSTED_STYLE_REQUEST" => config.path_style = !flag(value),
                "AWS_ACCESS_KEY_ID" => config.access_key_id = Some(value.clone()),
                "AWS_SECRET_ACCESS_KEY" => config.secret_access_key = Some(Secret::new(value)),
                "AWS_SESSION_TOKEN" => config.session_token = Some(Secret::new(value)),
                "AWS_SKIP_SIGNATURE" => {}
                "ODP_CONNECT_TIMEOUT_MS" => config.connect_timeout_ms = millis(key, value)?,
                "ODP_REQUEST_TIMEOUT_MS" => config.request_timeout_ms = millis(key, value)?,
                _ => return Err(format!("unknown S3 storage option {key}")),
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        Options::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_configuration_survives_the_trip_through_storage_options() {
        let server = options(&[
            ("endpoint", "http://127.0.0.1:9000"),
            ("region", "eu-west-1"),
            ("path_style", "true"),
            ("allow_http", "true"),
            ("request_timeout_ms", "700"),
        ]);
        let user = options(&[
            ("access_key_id", "id"),
            ("secret_access_key", "s3cr3t"),
            ("session_token", "t0k3n"),
        ]);
        let config = S3Config::from_options(&server, &user);
        assert_eq!(config.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
        assert_eq!(config.request_timeout_ms, 700);
        let back = S3Config::from_storage_options(&config.to_storage_options()).unwrap();
        assert!(back == config, "{back:?} != {config:?}");
        let unsigned = S3Config::from_options(&server, &Options::default());
        let back = S3Config::from_storage_options(&unsigned.to_storage_options()).unwrap();
        assert!(back == unsigned, "{back:?} != {unsigned:?}");
    }

    #[test]
    fn the_client_gets_the_endpoint_region_and_credentials() {
        let server = options(&[
            ("endpoint", "http://127.0.0.1:9000"),
            ("region", "eu-west-1"),
        ]);
        let user = options(&[("access_key_id", "id"), ("secret_access_key", "s")]);
        let builder = S3Config::from_options(&server, &user)
            .builder("lake")
            .unwrap();
        let get = |key| builder.get_config_value(&key);
        assert_eq!(
            get(AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(get(AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-1"));
        assert_eq!(get(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("id"));
        assert_eq!(get(AmazonS3ConfigKey::Bucket).as_deref(), Some("lake"));
        assert!(builder.build().is_ok());
    }

    /// A mapping holding part of a credential (written before CREATE checked it) makes
    /// the client fail, never sign nothing and read as anonymous.
    #[test]
    fn part_of_a_credential_is_refused_not_dropped() {
        for user in [
            options(&[("access_key_id", "id")]),
            options(&[("secret_access_key", "s3cr3t")]),
            options(&[("session_token", "t0k3n")]),
        ] {
            let config = S3Config::from_options(&Options::default(), &user);
            let error = config.builder("lake").expect_err("part of a credential");
            assert!(error.contains("part of an S3 credential") && !error.contains("s3cr3t"));
            let storage = config.to_storage_options();
            assert!(!storage.contains_key(keys::SKIP_SIGNATURE), "{storage:?}");
            let rebuilt = S3Config::from_storage_options(&storage).unwrap();
            assert!(rebuilt.builder("lake").is_err());
        }
        let anonymous = S3Config::from_options(&Options::default(), &Options::default());
        assert!(anonymous.builder("lake").unwrap().build().is_ok());
    }

    #[test]
    fn unknown_storage_options_and_secrets_in_debug_are_refused() {
        let unknown = HashMap::from([("AWS_ENDPOINT_URLL".to_string(), "x".to_string())]);
        assert!(S3Config::from_storage_options(&unknown).is_err());
        let user = options(&[("access_key_id", "id"), ("secret_access_key", "s3cr3t")]);
        let shown = format!("{:?}", S3Config::from_options(&Options::default(), &user));
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("\"id\""),
            "{shown}"
        );
    }
}
