//! Password hashes (argon2id), access tokens (JWT, HS256) and refresh tokens (random, stored hashed).
//!
//! Argon2 is deliberately expensive — tens of milliseconds of CPU and ~19 MiB per hash at the default
//! cost — so it runs on Tokio's blocking pool (`spawn_blocking`): on an async worker thread it would
//! stall every other request scheduled there, and login latency would leak into validation latency.
//! Access tokens are checked locally (signature, expiry); `/validate` then checks the session row too,
//! so a revoked session stops working at once. Refresh tokens are 256 random bits of which only the
//! SHA-256 is stored: a leaked `auth.sessions` table does not leak usable tokens.

use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use kit::error::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Password;
use crate::settings::Argon2Cost;

/// Hashes and verifies passwords off the async threads.
#[derive(Clone)]
pub struct Passwords {
    /// Parameters of new hashes.
    params: Params,
    /// A hash to verify against when the account does not exist, so unknown and known addresses cost
    /// the same time (no account enumeration by timing).
    decoy: String,
}

impl Passwords {
    /// Prepares hashing at `cost` (computes the decoy once).
    pub async fn new(cost: Argon2Cost) -> anyhow::Result<Self> {
        let params = Params::new(cost.m_kib, cost.t, cost.p, None).map_err(|e| anyhow::anyhow!("AUTH_ARGON2_*: {e}"))?;
        let mut me = Self { params, decoy: String::new() };
        me.decoy = me.hash(Password::parse("decoy-password".into()).map_err(|_| anyhow::anyhow!("decoy"))?).await?;
        Ok(me)
    }

    /// A PHC string (`$argon2id$v=19$m=...`) for `password`.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        let hashed = tokio::task::spawn_blocking(move || {
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        });
        hashed.await?
    }

    /// Whether `password` matches `hash` (`None`: no such account; the decoy is checked instead).
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let exists = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.clone());
        let ok =
            tokio::task::spawn_blocking(move || Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok());
        exists && ok.await.unwrap_or(false)
    }
}

/// What an access token says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The session (refresh token) it was issued under.
    pub sid: Uuid,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
}

/// Issues and checks access tokens.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a session (refresh token).
    pub refresh_ttl: Duration,
}

impl Tokens {
    pub fn new(secret: &str, access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 0;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A signed access token for `user` under `session`.
    pub fn issue(&self, user: Uuid, session: Uuid) -> anyhow::Result<String> {
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = Claims { sub: user, sid: session, iat, exp: iat + self.access_ttl.as_secs() };
        Ok(jsonwebtoken::encode(&Header::default(), &claims, &self.encoding)?)
    }

    /// The claims of a valid, unexpired token; 401 otherwise.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::Unauthorized("invalid or expired access token".into()))
    }

    /// The claims of the `Authorization: Bearer` token of a request.
    pub fn from_headers(&self, headers: &http::HeaderMap) -> Result<Claims, ApiError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <access token>".into()))?;
        self.verify(token.trim())
    }
}

/// A new random opaque token (refresh tokens, verification tokens): 256 bits, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a refresh token.
pub fn token_hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let t = Tokens::new("secret", Duration::from_secs(60), Duration::from_secs(600));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = t.issue(user, session).unwrap();
        let claims = t.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));
        let other = Tokens::new("other", Duration::from_secs(60), Duration::from_secs(600));
        assert!(other.verify(&token).is_err(), "wrong secret");
        assert!(t.verify("not.a.jwt").is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_matches() {
        let p = Passwords::new(Argon2Cost::LIGHT).await.unwrap();
        let hash = p.hash(Password::parse("shoplab-pass".into()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(p.verify("shoplab-pass".into(), Some(hash.clone())).await);
        assert!(!p.verify("wrong-pass".into(), Some(hash)).await);
        assert!(!p.verify("decoy-password".into(), None).await);
    }
}
