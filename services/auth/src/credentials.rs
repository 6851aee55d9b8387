//! Access tokens (JWT, HS256), refresh and verification tokens (random, stored hashed), and the
//! extractor that authenticates a request before its body is even parsed.
//!
//! Access tokens carry `iss` ([`ISSUER`]) and `aud` ([`AUDIENCE`]), and both are required and checked:
//! a token minted for another system with the same secret is not a shoplab token. The signature and
//! expiry are checked locally; every route that acts for a user (`/validate`, `/me/*`, `/logout`) then
//! checks the session row too, so a revoked session stops working at once — except `/validate` with
//! `auth.local_token_validation`, which checks a revocation set reloaded every few seconds instead
//! ([`crate::levers::local_token_validation`]). Refresh and verification
//! tokens are 256 random bits of which only the SHA-256 is stored: a leaked table does not leak usable
//! tokens. Password hashing lives in [`crate::passwords`].

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use kit::error::ApiError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::state::AppState;

/// Who issues shoplab access tokens (`iss`).
pub const ISSUER: &str = "shoplab-auth";
/// Who they are for (`aud`): the shoplab services.
pub const AUDIENCE: &str = "shoplab";

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
    /// Issuer: [`ISSUER`].
    pub iss: String,
    /// Audience: [`AUDIENCE`].
    pub aud: String,
    /// When the session ends, seconds since the epoch: lets `/validate` answer without the session row
    /// (`auth.local_token_validation`). Absent from tokens issued before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sxp: Option<i64>,
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
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// A signed access token for `user` under `session`, which ends at `session_end` (epoch seconds).
    pub fn issue(&self, user: Uuid, session: Uuid, session_end: i64) -> anyhow::Result<String> {
        let iat = jsonwebtoken::get_current_timestamp();
        let (iss, aud, sxp) = (ISSUER.to_owned(), AUDIENCE.to_owned(), Some(session_end));
        let claims = Claims { sub: user, sid: session, iat, exp: iat + self.access_ttl.as_secs(), iss, aud, sxp };
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

/// A request whose access token verified (signature, expiry, issuer, audience). As an extractor placed
/// before the body, it answers 401 before the body is parsed: authentication before validation.
pub struct Authenticated(pub Claims);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state.tokens.from_headers(&parts.headers).map(Authenticated)
    }
}

/// A new random opaque token (refresh tokens, verification tokens): 256 bits, hex.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a refresh or verification token (SHA-256, hex; `sha256()` in SQL gives the same).
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
        let token = t.issue(user, session, 0).unwrap();
        let claims = t.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid, claims.iss.as_str(), claims.aud.as_str()), (user, session, ISSUER, AUDIENCE));
        let other = Tokens::new("other", Duration::from_secs(60), Duration::from_secs(600));
        assert!(other.verify(&token).is_err(), "wrong secret");
        assert!(t.verify("not.a.jwt").is_err());
    }

    #[test]
    fn issuer_and_audience_are_required_and_checked() {
        let secret = "secret";
        let t = Tokens::new(secret, Duration::from_secs(60), Duration::from_secs(600));
        let key = EncodingKey::from_secret(secret.as_bytes());
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let (sub, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let bare = serde_json::json!({ "sub": sub, "sid": sid, "exp": exp, "iat": 0 });
        let forged = jsonwebtoken::encode(&Header::default(), &bare, &key).unwrap();
        assert!(t.verify(&forged).is_err(), "no iss/aud: rejected even with the right secret");
        for (iss, aud) in [("someone-else", AUDIENCE), (ISSUER, "another-api")] {
            let claims = serde_json::json!({ "sub": sub, "sid": sid, "exp": exp, "iat": 0, "iss": iss, "aud": aud });
            let token = jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap();
            assert!(t.verify(&token).is_err(), "iss={iss} aud={aud}");
        }
    }

    #[test]
    fn random_tokens_are_random_and_stored_hashed() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
