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

use anyhow::{Context, bail};
use kit::config::{ExposeSecret, SecretString};

/// Shortest secret accepted outside lab mode.
pub const MIN_LEN: usize = 32;

/// The configured secret: `AUTH_JWT_SECRET` (`var`), else the file named by `AUTH_JWT_SECRET_FILE`.
pub fn configured(var: Option<SecretString>, file: Option<&str>) -> anyhow::Result<Option<SecretString>> {
    if let Some(s) = var.filter(|s| !s.expose_secret().is_empty()) {
        return Ok(Some(s));
    }
    let Some(path) = file.filter(|p| !p.is_empty()) else { return Ok(None) };
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("AUTH_JWT_SECRET_FILE={path}: cannot read the JWT secret"))?;
    Ok(Some(raw.strip_suffix('\n').unwrap_or(&raw).trim_end_matches('\r').into()))
}

/// The secret to sign with, or the reason `auth serve` must not start.
pub fn resolve(configured: Option<&SecretString>, lab: bool) -> anyhow::Result<SecretString> {
    match configured.map(|s| s.expose_secret()) {
        Some(s) if s.len() >= MIN_LEN => Ok(s.into()),
        Some(s) if lab => {
            tracing::warn!(event = "jwt_secret_short", bytes = s.len(), "AUTH_JWT_SECRET is short: accepted in lab mode only");
            Ok(s.into())
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
            Ok(crate::credentials::random_token().into())
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
        let short = resolve(Some(&"shoplab-lab-only-jwt-secret".into()), false).unwrap_err().to_string();
        assert!(short.contains("27 bytes"), "{short}");
        let good = SecretString::from("k".repeat(MIN_LEN));
        assert_eq!(resolve(Some(&good), false).unwrap().expose_secret(), good.expose_secret());
        assert!(!format!("{good:?}").contains("kkk"), "never printed");
    }

    #[test]
    fn an_empty_variable_falls_back_to_the_file() {
        let file = std::env::temp_dir().join(format!("shoplab-jwt-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        let path = file.display().to_string();
        let got = configured(Some("".into()), Some(&path)).unwrap().unwrap();
        assert_eq!(got.expose_secret(), "from-file", "one trailing newline is ignored");
        assert_eq!(configured(Some("given".into()), Some(&path)).unwrap().unwrap().expose_secret(), "given");
        assert!(configured(None, None).unwrap().is_none());
        std::fs::remove_file(&file).unwrap();
        assert!(configured(None, Some(&path)).unwrap_err().to_string().contains("AUTH_JWT_SECRET_FILE"));
    }

    #[test]
    fn a_lab_without_a_secret_gets_a_random_one_per_process() {
        let (a, b) = (resolve(None, true).unwrap(), resolve(None, true).unwrap());
        assert_ne!(a.expose_secret(), b.expose_secret(), "random, not a constant");
        assert!(a.expose_secret().len() >= MIN_LEN);
        let short = SecretString::from("short");
        assert_eq!(resolve(Some(&short), true).unwrap().expose_secret(), "short", "a given secret is used as given in a lab");
    }
}
