//! Property tests of JWT verification: arbitrary or tampered tokens never verify (and
//! never panic), and a correctly signed token is accepted exactly when its algorithm,
//! key, expiry, not-before, issued-at and audience are right.

use super::jwt::{verify, Expectations, JwtError, JwtKey};
use super::secret::Secret;
use crate::proptests::{check, string_from};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use proptest::prelude::*;
use serde_json::{json, Map, Value as Json};

/// A secret long enough for every HMAC algorithm.
const SECRET: &str = "a shared secret of sixty-four bytes or more, for HS256, HS384 and HS512";

/// The active keys: one HS256 key and one HS512 key, both with [`SECRET`].
fn keys() -> Vec<JwtKey> {
    [("k256", "HS256"), ("k512", "HS512")]
        .into_iter()
        .map(|(kid, algorithm)| JwtKey {
            kid: kid.into(),
            algorithm: algorithm.into(),
            key: Secret::new(SECRET),
        })
        .collect()
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with this exact header and claims, signed with `secret` by `alg`.
fn sign(header: &Json, claims: &Json, alg: Algorithm, secret: &str) -> String {
    let signed = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(secret.as_bytes()),
        alg,
    )
    .expect("HMAC signs anything");
    format!("{signed}.{signature}")
}

/// A token ODP must accept: HS256 with key `k256`, expiring in an hour.
fn valid_token(extra: &Map<String, Json>) -> String {
    let mut claims = Map::from_iter([
        ("sub".to_string(), json!("u1")),
        ("exp".to_string(), json!(now() + 3600)),
    ]);
    claims.extend(extra.clone());
    sign(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "k256"}),
        &Json::Object(claims),
        Algorithm::HS256,
        SECRET,
    )
}

/// A time claim: absent, or a value relative to now (`offset` seconds away, far from
/// any leeway used here), in the spellings a token may carry.
#[derive(Debug, Clone)]
enum TimeClaim {
    Absent,
    Integer(i64),
    Fraction(i64),
    Huge,
    Negative,
    Text(i64),
    Null,
}

impl TimeClaim {
    fn json(&self, now: i64) -> Option<Json> {
        Some(match self {
            TimeClaim::Absent => return None,
            TimeClaim::Integer(offset) => json!(now + offset),
            TimeClaim::Fraction(offset) => json!(now as f64 + *offset as f64 + 0.5),
            TimeClaim::Huge => json!(1e20),
            TimeClaim::Negative => json!(-5),
            TimeClaim::Text(offset) => json!((now + offset).to_string()),
            TimeClaim::Null => Json::Null,
        })
    }

    /// The claim as a NumericDate relative to now: `Some(seconds from now)` for a JSON
    /// number, `None` for anything else (absent, text, null).
    fn seconds_from_now(&self, now: i64) -> Option<f64> {
        match self {
            TimeClaim::Integer(o) => Some(*o as f64),
            TimeClaim::Fraction(o) => Some(*o as f64 + 0.5),
            TimeClaim::Huge => Some(1e20 - now as f64),
            TimeClaim::Negative => Some(-5.0 - now as f64),
            _ => None,
        }
    }
}

/// Offsets from now well away from the leeways (at most 120 s) and clock ticks.
fn offset() -> impl Strategy<Value = i64> {
    prop_oneof![-100_000i64..-1_000, 1_000i64..100_000]
}

fn time_claim() -> impl Strategy<Value = TimeClaim> {
    prop_oneof![
        Just(TimeClaim::Absent),
        offset().prop_map(TimeClaim::Integer),
        offset().prop_map(TimeClaim::Fraction),
        Just(TimeClaim::Huge),
        Just(TimeClaim::Negative),
        offset().prop_map(TimeClaim::Text),
        Just(TimeClaim::Null),
    ]
}

/// Verifies a token signed correctly by key `k256` with these claims besides `sub`.
fn verify_claims(claims: Map<String, Json>, expect: &Expectations) -> Result<Json, JwtError> {
    let token = sign(
        &json!({"alg": "HS256", "kid": "k256"}),
        &Json::Object(claims),
        Algorithm::HS256,
        SECRET,
    );
    verify(&token, &keys(), expect, now())
}

fn leeway() -> impl Strategy<Value = Expectations> {
    (0u64..=120).prop_map(|leeway_seconds| Expectations {
        leeway_seconds,
        ..Default::default()
    })
}

/// Arbitrary text, and token-shaped text with any header, is refused with a
/// reason and never panics.
#[test]
fn arbitrary_tokens_are_refused() {
    check(
        256,
        prop_oneof![
            any::<String>(),
            string_from(&['a', 'B', '0', '-', '_', '.', '=', '+', '/', ' '], 0..60),
            (
                any::<String>(),
                any::<String>(),
                string_from(&['a', 'B', '0', '-', '_'], 0..44)
            )
                .prop_map(|(h, c, s)| {
                    format!("{}.{}.{s}", b64(h.as_bytes()), b64(c.as_bytes()))
                }),
            (
                prop::sample::select(&["HS256", "HS512", "none", "RS256", "hs256", ""][..]),
                any::<String>(),
                any::<String>()
            )
                .prop_map(|(alg, kid, claims)| {
                    format!(
                        "{}.{}.",
                        b64(json!({"alg": alg, "kid": kid}).to_string().as_bytes()),
                        b64(claims.as_bytes())
                    )
                }),
        ],
        |token| {
            let result = verify(&token, &keys(), &Expectations::default(), now());
            prop_assert!(result.is_err(), "{:?} accepted", token);
            Ok(())
        },
    );
}

/// A valid token with any one character changed, removed or added is refused.
#[test]
fn tampered_tokens_are_refused() {
    check(
        256,
        (
            any::<prop::sample::Index>(),
            prop::sample::select(
                &[
                    'A', 'a', 'z', '0', '9', '-', '_', '.', '=', '+', '/', ' ', 'é',
                ][..],
            ),
            0..3u8,
            any::<bool>(),
        ),
        |(at, replacement, how, aud)| {
            let extra = if aud {
                Map::from_iter([("aud".to_string(), json!("odp"))])
            } else {
                Map::new()
            };
            let token = valid_token(&extra);
            let expect = Expectations {
                audience: aud.then(|| "odp".to_string()),
                ..Default::default()
            };
            prop_assert!(
                verify(&token, &keys(), &expect, now()).is_ok(),
                "the untouched token verifies"
            );
            let mut chars: Vec<char> = token.chars().collect();
            let i = at.index(chars.len());
            match how {
                0 => chars[i] = replacement,
                1 => {
                    chars.remove(i);
                }
                _ => chars.insert(i, replacement),
            }
            let tampered: String = chars.into_iter().collect();
            prop_assume!(tampered != token);
            let result = verify(&tampered, &keys(), &expect, now());
            prop_assert!(result.is_err(), "{:?} accepted", tampered);
            Ok(())
        },
    );
}

/// `exp` is required and must be a whole number of seconds not before now (less
/// the leeway): a missing, past, fractional, textual or null `exp` is refused.
#[test]
fn expiry_is_required_and_checked() {
    check(256, (time_claim(), leeway()), |(exp, expect)| {
        let now = now();
        let claims = Map::from_iter(exp.json(now).map(|v| ("exp".to_string(), v)));
        let whole = matches!(exp, TimeClaim::Integer(_) | TimeClaim::Negative);
        let accept = whole
            && exp
                .seconds_from_now(now)
                .is_some_and(|s| s >= -(expect.leeway_seconds as f64));
        let result = verify_claims(claims, &expect);
        prop_assert_eq!(result.is_ok(), accept, "exp {:?}: {:?}", exp, result);
        Ok(())
    });
}

/// `nbf`, when present, must be a whole number of seconds (a fraction, a huge number,
/// text or null is refused, as for `exp`), and a token is refused while it lies ahead
/// (beyond the leeway), accepted once it has passed.
#[test]
fn not_before_is_checked() {
    check(256, (time_claim(), leeway()), |(nbf, expect)| {
        let now = now();
        let mut claims = Map::from_iter([("exp".to_string(), json!(now + 200_000))]);
        claims.extend(nbf.json(now).map(|v| ("nbf".to_string(), v)));
        let ahead = |s: f64| s > expect.leeway_seconds as f64;
        let accept = match nbf {
            TimeClaim::Absent => true,
            TimeClaim::Integer(_) | TimeClaim::Negative => {
                nbf.seconds_from_now(now).is_some_and(|s| !ahead(s))
            }
            _ => false,
        };
        let result = verify_claims(claims, &expect);
        prop_assert_eq!(result.is_ok(), accept, "nbf {:?}: {:?}", nbf, result);
        Ok(())
    });
}

/// `iat`, when present, must be a whole number of seconds, and a token issued in the
/// future (beyond now plus the leeway) is refused.
#[test]
fn issued_at_is_checked() {
    check(
        256,
        (
            time_claim().prop_filter("a number", |t| t.seconds_from_now(0).is_some()),
            leeway(),
        ),
        |(iat, expect)| {
            let now = now();
            let mut claims = Map::from_iter([("exp".to_string(), json!(now + 200_000))]);
            claims.extend(iat.json(now).map(|v| ("iat".to_string(), v)));
            let whole = matches!(iat, TimeClaim::Integer(_) | TimeClaim::Negative);
            let accept = whole
                && iat
                    .seconds_from_now(now)
                    .is_some_and(|s| s <= expect.leeway_seconds as f64);
            let result = verify_claims(claims, &expect);
            prop_assert_eq!(result.is_ok(), accept, "iat {:?}: {:?}", iat, result);
            Ok(())
        },
    );
}

/// When the caller expects an audience, a token is accepted exactly when its `aud`
/// is that audience or a list of strings holding it; when it expects none, `aud` is
/// not looked at. Likewise for the issuer (`iss`, a string).
#[test]
fn audience_and_issuer_are_checked() {
    check(
        256,
        (
            proptest::option::of(prop::sample::select(vec![
                json!("odp"),
                json!("other"),
                json!(["odp", "x"]),
                json!(["x"]),
                json!([]),
                json!(["odp", 5]),
                json!(5),
                Json::Null,
                json!("ODP"),
                json!("odp "),
            ])),
            proptest::option::of(prop::sample::select(vec![
                json!("me"),
                json!("you"),
                json!(5),
                Json::Null,
                json!("Me"),
            ])),
            any::<bool>(),
            any::<bool>(),
        ),
        |(aud, iss, expect_aud, expect_iss)| {
            let mut claims = Map::from_iter([("exp".to_string(), json!(now() + 3600))]);
            claims.extend(aud.clone().map(|a| ("aud".to_string(), a)));
            claims.extend(iss.clone().map(|i| ("iss".to_string(), i)));
            let expect = Expectations {
                audience: expect_aud.then(|| "odp".to_string()),
                issuer: expect_iss.then(|| "me".to_string()),
                leeway_seconds: 0,
            };
            let aud_ok = !expect_aud
                || match &aud {
                    Some(Json::String(a)) => a == "odp",
                    Some(Json::Array(items)) => {
                        items.iter().all(Json::is_string) && items.contains(&json!("odp"))
                    }
                    _ => false,
                };
            let iss_ok = !expect_iss || iss == Some(json!("me"));
            let result = verify_claims(claims, &expect);
            prop_assert_eq!(
                result.is_ok(),
                aud_ok && iss_ok,
                "aud {:?}, iss {:?}: {:?}",
                aud,
                iss,
                result
            );
            Ok(())
        },
    );
}

/// A token verifies only under the algorithm its key is registered with: its
/// header's `alg` must be that algorithm exactly (no other HMAC size, case or
/// `none`), its `kid` (when given) must name that key, and a `crit` header is
/// refused. `none` in any case is refused as such.
#[test]
fn algorithms_are_never_confused() {
    check(
        256,
        (
            prop::sample::select(
                &[
                    "HS256", "HS384", "HS512", "none", "None", "NONE", "nOnE", "RS256", "ES256",
                    "EdDSA", "hs256", "",
                ][..],
            ),
            proptest::option::of(prop::sample::select(&["k256", "k512", "k9"][..])),
            any::<bool>(),
        ),
        |(alg, kid, crit)| {
            let mut header = json!({"alg": alg, "typ": "JWT"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            if crit {
                header["crit"] = json!(["exp"]);
            }
            let signing = match alg {
                "HS384" => Algorithm::HS384,
                "HS512" => Algorithm::HS512,
                _ => Algorithm::HS256,
            };
            let token = sign(&header, &json!({"exp": now() + 3600}), signing, SECRET);
            let result = verify(&token, &keys(), &Expectations::default(), now());
            let registered = match alg {
                "HS256" => Some("k256"),
                "HS512" => Some("k512"),
                _ => None,
            };
            let accept = !crit && registered.is_some() && kid.is_none_or(|k| Some(k) == registered);
            prop_assert_eq!(
                result.is_ok(),
                accept,
                "alg {:?}, kid {:?}, crit {}: {:?}",
                alg,
                kid,
                crit,
                result
            );
            if alg.eq_ignore_ascii_case("none") && !crit {
                prop_assert_eq!(result, Err(JwtError::AlgorithmNone));
            }
            Ok(())
        },
    );
}
