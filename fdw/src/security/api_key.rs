//! API-key secrets: generated from the system's random source, shown once, stored only
//! as a salted SHA-256 hash; a secret names its key by a public prefix, so a lookup never
//! scans hashes, and hashes are compared in constant time.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

/// A freshly generated key: the secret to hand out once, and what is stored.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// `odp_<prefix>_<random>`: the only time the secret exists outside its holder
    pub secret: String,
    /// the public part that finds the key (8 hex digits)
    pub prefix: String,
    /// random salt of the hash
    pub salt: Vec<u8>,
    /// SHA-256 of salt and secret
    pub hash: Vec<u8>,
}

/// The system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("no random bytes available for an API key")]
pub struct NoRandomness;

fn random(bytes: usize) -> Result<Vec<u8>, NoRandomness> {
    let mut out = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| NoRandomness)?;
    Ok(out)
}

/// Generates a key: 4 random bytes of prefix, 32 of secret, 16 of salt.
pub fn generate() -> Result<NewKey, NoRandomness> {
    let prefix: String = random(4)?.iter().map(|b| format!("{b:02x}")).collect();
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(32)?);
    let secret = format!("odp_{prefix}_{body}");
    let salt = random(16)?;
    let hash = hash(&salt, &secret);
    Ok(NewKey {
        secret,
        prefix,
        salt,
        hash,
    })
}

/// The prefix a secret names its key by, if it has the shape of one.
pub fn prefix_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix("odp_")?;
    let (prefix, body) = rest.split_once('_')?;
    (prefix.len() == 8 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) && !body.is_empty())
        .then_some(prefix)
}

/// SHA-256 of `salt` followed by `secret`.
pub fn hash(salt: &[u8], secret: &str) -> Vec<u8> {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(salt);
    context.update(secret.as_bytes());
    context.finish().as_ref().to_vec()
}

/// Whether `secret` hashes to `stored` with `salt` (constant time in the hash bytes).
pub fn matches(salt: &[u8], stored: &[u8], secret: &str) -> bool {
    let computed = hash(salt, secret);
    computed.len() == stored.len()
        && computed
            .iter()
            .zip(stored)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_matches_only_its_own_hash() {
        let key = generate().unwrap();
        assert_eq!(prefix_of(&key.secret), Some(key.prefix.as_str()));
        assert!(matches(&key.salt, &key.hash, &key.secret));
        let other = generate().unwrap();
        assert!(!matches(&key.salt, &key.hash, &other.secret));
        assert_ne!(key.secret, other.secret);
        assert!(!key
            .hash
            .windows(8)
            .any(|w| key.secret.as_bytes().windows(8).any(|s| s == w)));
    }

    #[test]
    fn only_well_formed_secrets_have_a_prefix() {
        assert_eq!(prefix_of("odp_0a1b2c3d_xyz"), Some("0a1b2c3d"));
        assert_eq!(prefix_of("odp_0a1b2c3_xyz"), None);
        assert_eq!(prefix_of("odp_0a1b2c3d_"), None);
        assert_eq!(prefix_of("bearer abc"), None);
    }
}
