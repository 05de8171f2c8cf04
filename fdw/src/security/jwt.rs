//! Verifying JSON Web Tokens against the keys of `odp.jwt_keys`.
//!
//! The token's algorithm must be the one its key is registered with (no algorithm
//! confusion: an HMAC token is never checked with an RSA public key as the secret), `none`
//! is refused before anything else, `exp` is required, `exp`/`nbf`/`iat` are checked with
//! a leeway, `aud`/`iss` when the caller expects them. Several keys may be active at
//! once (rotation): the header's `kid` picks one, else every key of the algorithm is
//! tried.

use crate::security::secret::Secret;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::str::FromStr;
use thiserror::Error;

/// A verification key as registered.
#[derive(Debug, Clone)]
pub struct JwtKey {
    /// key id (`kid` in token headers)
    pub kid: String,
    /// the one algorithm the key verifies (`HS256`, `RS256`, `ES256`, `EdDSA`, ...)
    pub algorithm: String,
    /// the HMAC secret, or the public key in PEM
    pub key: Secret,
}

/// What the caller expects of a token.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    /// required `aud`
    pub audience: Option<String>,
    /// required `iss`
    pub issuer: Option<String>,
    /// clock skew allowed on `exp`, `nbf` and `iat`
    pub leeway_seconds: u64,
}

/// Why a token was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum JwtError {
    /// not three base64url parts with a JSON header
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg: none`
    #[error("unsigned tokens (alg \"none\") are refused")]
    AlgorithmNone,
    /// an algorithm ODP does not verify
    #[error("unsupported token algorithm \"{0}\"")]
    UnsupportedAlgorithm(String),
    /// the header's `kid` names no active key
    #[error("no active key with kid \"{0}\"")]
    UnknownKey(String),
    /// no active key of the token's algorithm
    #[error("no active key for algorithm {0}")]
    NoKey(String),
    /// the token's algorithm is not the one its key is registered with
    #[error("token algorithm {token} does not match key \"{kid}\" ({key})")]
    AlgorithmMismatch {
        token: String,
        kid: String,
        key: String,
    },
    /// the signature does not verify
    #[error("invalid token signature")]
    BadSignature,
    /// `exp` has passed
    #[error("token expired")]
    Expired,
    /// `nbf` is still ahead
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    /// `iat` lies in the future
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    /// `exp` missing
    #[error("token has no exp claim")]
    MissingExpiry,
    /// `aud` is not the expected audience
    #[error("token audience does not match")]
    BadAudience,
    /// `iss` is not the expected issuer
    #[error("token issuer does not match")]
    BadIssuer,
    /// a registered key that cannot be used
    #[error("key \"{kid}\" is not a valid {algorithm} key: {reason}")]
    BadKey {
        kid: String,
        algorithm: String,
        reason: String,
    },
}

impl crate::source::Classify for JwtError {
    fn class(&self) -> crate::source::ErrorClass {
        use crate::source::ErrorClass;
        match self {
            JwtError::BadKey { .. } | JwtError::UnsupportedAlgorithm(_) => {
                ErrorClass::InvalidParameter
            }
            _ => ErrorClass::Auth,
        }
    }
}

/// The algorithm named `name`, refusing `none` and unknown names.
pub fn algorithm(name: &str) -> Result<Algorithm, JwtError> {
    if name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgorithmNone);
    }
    Algorithm::from_str(name).map_err(|_| JwtError::UnsupportedAlgorithm(name.to_string()))
}

/// The decoding key of a registered key (checked when a key is registered too).
pub fn decoding_key(key: &JwtKey) -> Result<DecodingKey, JwtError> {
    let bad = |reason: String| JwtError::BadKey {
        kid: key.kid.clone(),
        algorithm: key.algorithm.clone(),
        reason,
    };
    let pem = key.key.expose().as_bytes();
    match algorithm(&key.algorithm)? {
        hmac @ (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => {
            let needed = match hmac {
                Algorithm::HS256 => 32,
                Algorithm::HS384 => 48,
                _ => 64,
            };
            if key.key.expose().len() < needed {
                return Err(bad(format!(
                    "an {} secret needs at least {needed} bytes",
                    key.algorithm
                )));
            }
            Ok(DecodingKey::from_secret(pem))
        }
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(pem).map_err(|e| bad(e.to_string())),
        Algorithm::ES256 | Algorithm::ES384 => {
            DecodingKey::from_ec_pem(pem).map_err(|e| bad(e.to_string()))
        }
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem).map_err(|e| bad(e.to_string())),
    }
}

/// The header of a token: its algorithm name and `kid`.
fn header(token: &str) -> Result<(String, Option<String>), JwtError> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0].trim_end_matches('='))
        .map_err(|_| JwtError::Malformed("header is not base64url".into()))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|_| JwtError::Malformed("header is not JSON".into()))?;
    let alg = json
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or_else(|| JwtError::Malformed("header has no alg".into()))?;
    // RFC 7515 4.1.11: a recipient must refuse a token whose `crit` names extensions it
    // does not understand; ODP understands none.
    if json.get("crit").is_some() {
        return Err(JwtError::Malformed(
            "header has a crit parameter (no extension is supported)".into(),
        ));
    }
    let kid = json.get("kid").and_then(|k| k.as_str()).map(str::to_string);
    Ok((alg.to_string(), kid))
}

/// Verifies `token` against `keys` (the active ones) at `now` (Unix seconds); returns
/// its claims.
pub fn verify(
    token: &str,
    keys: &[JwtKey],
    expect: &Expectations,
    now: i64,
) -> Result<serde_json::Value, JwtError> {
    let (alg_name, kid) = header(token)?;
    let alg = algorithm(&alg_name)?;
    let candidates: Vec<&JwtKey> = match &kid {
        Some(kid) => {
            let key = keys
                .iter()
                .find(|k| &k.kid == kid)
                .ok_or_else(|| JwtError::UnknownKey(kid.clone()))?;
            vec![key]
        }
        None => keys.iter().filter(|k| k.algorithm == alg_name).collect(),
    };
    if candidates.is_empty() {
        return Err(JwtError::NoKey(alg_name));
    }
    let mut validation = Validation::new(alg);
    validation.leeway = expect.leeway_seconds;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if expect.audience.is_some() {
        required.push("aud");
    }
    if expect.issuer.is_some() {
        required.push("iss");
    }
    validation.set_required_spec_claims(&required);
    match &expect.audience {
        Some(audience) => validation.set_audience(&[audience]),
        None => validation.validate_aud = false,
    }
    if let Some(issuer) = &expect.issuer {
        validation.set_issuer(&[issuer]);
    }
    let mut last = JwtError::BadSignature;
    for key in candidates {
        if algorithm(&key.algorithm)? != alg {
            return Err(JwtError::AlgorithmMismatch {
                token: alg_name,
                kid: key.kid.clone(),
                key: key.algorithm.clone(),
            });
        }
        let decoding = decoding_key(key)?;
        match jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation) {
            Ok(data) => {
                // The session keeps the claims until `exp`, in whole seconds: a
                // fractional or out-of-range `exp` is refused, never ignored.
                if data.claims.get("exp").is_none_or(|e| e.as_i64().is_none()) {
                    return Err(JwtError::Malformed(
                        "exp is not a whole number of seconds".into(),
                    ));
                }
                // `nbf` and `iat`, when present, are checked, so they must be whole
                // seconds too (jsonwebtoken skips an `nbf` it cannot read)
                for claim in ["nbf", "iat"] {
                    if data.claims.get(claim).is_some_and(|v| v.as_i64().is_none()) {
                        return Err(JwtError::Malformed(format!(
                            "{claim} is not a whole number of seconds"
                        )));
                    }
                }
                let nbf = data.claims.get("nbf").and_then(|v| v.as_i64());
                if nbf.is_some_and(|nbf| nbf > now + expect.leeway_seconds as i64) {
                    return Err(JwtError::NotYetValid);
                }
                let iat = data.claims.get("iat").and_then(|v| v.as_i64());
                if iat.is_some_and(|iat| iat > now + expect.leeway_seconds as i64) {
                    return Err(JwtError::IssuedInFuture);
                }
                return Ok(data.claims);
            }
            Err(e) => {
                last = match e.kind() {
                    ErrorKind::InvalidSignature => JwtError::BadSignature,
                    ErrorKind::ExpiredSignature => return Err(JwtError::Expired),
                    ErrorKind::ImmatureSignature => return Err(JwtError::NotYetValid),
                    ErrorKind::InvalidAudience => return Err(JwtError::BadAudience),
                    ErrorKind::InvalidIssuer => return Err(JwtError::BadIssuer),
                    ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => {
                        return Err(JwtError::BadAudience)
                    }
                    ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => {
                        return Err(JwtError::BadIssuer)
                    }
                    ErrorKind::MissingRequiredClaim(_) => return Err(JwtError::MissingExpiry),
                    ErrorKind::InvalidAlgorithm => JwtError::AlgorithmMismatch {
                        token: alg_name.clone(),
                        kid: key.kid.clone(),
                        key: key.algorithm.clone(),
                    },
                    other => return Err(JwtError::Malformed(format!("{other:?}"))),
                };
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "an hmac secret of thirty-two bytes or more!";

    fn hs_key(kid: &str) -> JwtKey {
        JwtKey {
            kid: kid.into(),
            algorithm: "HS256".into(),
            key: Secret::new(SECRET),
        }
    }

    fn token(claims: serde_json::Value, kid: Option<&str>, secret: &str) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_string);
        encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    #[test]
    fn a_valid_token_gives_its_claims() {
        let t = token(json!({"sub": "u1", "exp": now() + 60}), Some("k1"), SECRET);
        let claims = verify(&t, &[hs_key("k1")], &Expectations::default(), now()).unwrap();
        assert_eq!(claims["sub"], "u1");
    }

    #[test]
    fn critical_extensions_and_fractional_expiry_are_refused() {
        let keys = [hs_key("k1")];
        let e = Expectations::default();
        let b64 = |v: serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let signed = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "kid": "k1", "crit": ["exp-ext"], "exp-ext": 1})),
            b64(json!({"sub": "u1", "exp": now() + 60}))
        );
        let signature = jsonwebtoken::crypto::sign(
            signed.as_bytes(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        let crit = format!("{signed}.{signature}");
        assert!(matches!(
            verify(&crit, &keys, &e, now()),
            Err(JwtError::Malformed(m)) if m.contains("crit")
        ));
        let fractional = token(
            json!({"sub": "u1", "exp": now() as f64 + 60.5}),
            Some("k1"),
            SECRET,
        );
        assert!(matches!(
            verify(&fractional, &keys, &e, now()),
            Err(JwtError::Malformed(m)) if m.contains("exp")
        ));
    }

    #[test]
    fn attacks_are_refused_with_distinct_errors() {
        let keys = [hs_key("k1")];
        let e = Expectations::default();
        let none = format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#)
        );
        assert_eq!(
            verify(&none, &keys, &e, now()),
            Err(JwtError::AlgorithmNone)
        );
        let forged = token(
            json!({"sub": "u1", "exp": now() + 60}),
            Some("k1"),
            "another secret of thirty-two bytes!!",
        );
        assert_eq!(
            verify(&forged, &keys, &e, now()),
            Err(JwtError::BadSignature)
        );
        let expired = token(
            json!({"sub": "u1", "exp": now() - 3600}),
            Some("k1"),
            SECRET,
        );
        assert_eq!(verify(&expired, &keys, &e, now()), Err(JwtError::Expired));
        let no_exp = token(json!({"sub": "u1"}), Some("k1"), SECRET);
        assert_eq!(
            verify(&no_exp, &keys, &e, now()),
            Err(JwtError::MissingExpiry)
        );
        let unknown = token(json!({"exp": now() + 60}), Some("k9"), SECRET);
        assert_eq!(
            verify(&unknown, &keys, &e, now()),
            Err(JwtError::UnknownKey("k9".into()))
        );
        let rsa_key = JwtKey {
            kid: "r1".into(),
            algorithm: "RS256".into(),
            key: Secret::new("-----BEGIN PUBLIC KEY-----"),
        };
        let confused = token(json!({"exp": now() + 60}), Some("r1"), SECRET);
        assert!(matches!(
            verify(&confused, &[rsa_key], &e, now()),
            Err(JwtError::AlgorithmMismatch { .. })
        ));
        let future = token(
            json!({"exp": now() + 7200, "iat": now() + 3600}),
            None,
            SECRET,
        );
        assert_eq!(
            verify(&future, &keys, &e, now()),
            Err(JwtError::IssuedInFuture)
        );
        let aud = Expectations {
            audience: Some("odp".into()),
            ..Default::default()
        };
        let other_aud = token(json!({"exp": now() + 60, "aud": "other"}), None, SECRET);
        assert_eq!(
            verify(&other_aud, &keys, &aud, now()),
            Err(JwtError::BadAudience)
        );
        assert!(matches!(
            verify("a.b", &keys, &e, now()),
            Err(JwtError::Malformed(_))
        ));
    }

    #[test]
    fn rotation_tries_every_key_of_the_algorithm() {
        let old = JwtKey {
            kid: "old".into(),
            algorithm: "HS256".into(),
            key: Secret::new("the previous secret, also 32 bytes long"),
        };
        let t = token(json!({"sub": "u1", "exp": now() + 60}), None, SECRET);
        let claims = verify(&t, &[old, hs_key("new")], &Expectations::default(), now()).unwrap();
        assert_eq!(claims["sub"], "u1");
    }
}
