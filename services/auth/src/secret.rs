//! The JWT signing secret: given, read from a file, or — in a lab only — made up at start.
//!
//! Access tokens are HS256: whoever knows the secret can mint a token for any user. So the secret is
//! never a constant from the source (anyone can read that), and outside a lab a missing or short one
//! stops `auth serve` at start with a message saying what to set:
//!
//! - `AUTH_JWT_SECRET`, else the contents of the file named by `AUTH_JWT_SECRET_FILE` (a mounted secret;
//!   one trailing newline is ignored);
//! - at least [`MIN_LEN`] bytes (256 bits, HS256's key size);
//! - lab mode (`SHOPLAB_LAB=1`, set by `shoplab up` and the compose file) with no secret: a random one per
//!   process, logged as such (never the secret itself). Tokens then die with the process, which a lab
//!   can afford; the launchers pass one secret to every auth process instead.

use std::fmt;

use anyhow::{Context, bail};

/// Shortest secret accepted outside lab mode.
pub const MIN_LEN: usize = 32;

/// A secret value that never shows in `Debug` (settings are printed in diagnostics; secrets must not be).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// The configured secret: `AUTH_JWT_SECRET`, else the file named by `AUTH_JWT_SECRET_FILE`.
pub fn from_env() -> anyhow::Result<Option<Secret>> {
    if let Some(s) = std::env::var("AUTH_JWT_SECRET").ok().filter(|s| !s.is_empty()) {
        return Ok(Some(Secret(s)));
    }
    let Some(path) = std::env::var_os("AUTH_JWT_SECRET_FILE").filter(|p| !p.is_empty()) else { return Ok(None) };
    let raw = std::fs::read_to_string(&path)
        .with_context(|| format!("AUTH_JWT_SECRET_FILE={}: cannot read the JWT secret", path.to_string_lossy()))?;
    Ok(Some(Secret(raw.strip_suffix('\n').unwrap_or(&raw).trim_end_matches('\r').to_owned())))
}

/// The secret to sign with, or the reason `auth serve` must not start.
pub fn resolve(configured: Option<&Secret>, lab: bool) -> anyhow::Result<String> {
    match configured.map(|s| s.0.as_str()) {
        Some(s) if s.len() >= MIN_LEN => Ok(s.to_owned()),
        Some(s) if lab => {
            tracing::warn!(event = "jwt_secret_short", bytes = s.len(), "AUTH_JWT_SECRET is short: accepted in lab mode only");
            Ok(s.to_owned())
        }
        Some(s) => bail!(
            "AUTH_JWT_SECRET has {} bytes; at least {MIN_LEN} are needed (e.g. `openssl rand -hex 32`), \
             or set SHOPLAB_LAB=1 for a throwaway lab",
            s.len()
        ),
        None if lab => {
            tracing::warn!(
                event = "jwt_secret_generated",
                "no AUTH_JWT_SECRET: lab mode generated a random one for this process (tokens end with it)"
            );
            Ok(crate::credentials::random_token())
        }
        None => bail!(
            "AUTH_JWT_SECRET (or AUTH_JWT_SECRET_FILE) is not set: set a secret of at least {MIN_LEN} bytes \
             (e.g. `openssl rand -hex 32`), or SHOPLAB_LAB=1 for a throwaway lab"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_lab_a_missing_or_short_secret_refuses_to_start() {
        let missing = resolve(None, false).unwrap_err().to_string();
        assert!(missing.contains("AUTH_JWT_SECRET") && missing.contains("SHOPLAB_LAB=1"), "{missing}");
        let short = resolve(Some(&Secret("shoplab-lab-only-jwt-secret".into())), false).unwrap_err().to_string();
        assert!(short.contains("27 bytes"), "{short}");
        let good = Secret("k".repeat(MIN_LEN));
        assert_eq!(resolve(Some(&good), false).unwrap(), good.0);
        assert_eq!(format!("{good:?}"), "Secret(32 bytes)", "never printed");
    }

    #[test]
    fn a_lab_without_a_secret_gets_a_random_one_per_process() {
        let (a, b) = (resolve(None, true).unwrap(), resolve(None, true).unwrap());
        assert_ne!(a, b, "random, not a constant");
        assert!(a.len() >= MIN_LEN);
        let short = Secret("short".into());
        assert_eq!(resolve(Some(&short), true).unwrap(), "short", "a given secret is used as given in a lab");
    }
}
