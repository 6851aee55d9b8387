//! The per-lab secrets `shoplab up` hands to its children: the admin token and the JWT secret.
//!
//! A token published in the docs would let anyone on the machine drop indexes, break the email provider
//! or rewrite prices, so no default token exists. Instead `shoplab up` generates random secrets the first
//! time it runs and keeps them in `$SHOPLAB_HOME` (default `~/.shoplab`, directory mode 0700, files
//! 0600): a restarted lab keeps the same admin token (the trainer's console stays unlocked) and the same
//! JWT secret (sessions stay valid). The CLI and the console read the stored token when
//! `SHOPLAB_ADMIN_TOKEN` is unset, so the one-command start still works; an explicit value always wins,
//! and an explicitly empty one disables admin writes.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The variable every service and the CLI read the admin token from.
pub const ADMIN_TOKEN_VAR: &str = "SHOPLAB_ADMIN_TOKEN";
/// File name of the stored admin token inside [`home`].
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// File name of the stored JWT secret inside [`home`].
pub const JWT_SECRET_FILE: &str = "jwt-secret";

/// The secrets of one lab.
#[derive(Debug, Clone)]
pub struct LabSecrets {
    /// Bearer token for every admin write (services' `/admin/*`, the console).
    pub admin_token: String,
    /// HS256 secret auth signs its tokens with (64 hex characters, well above the 32-byte minimum).
    pub jwt_secret: String,
    /// Where they are stored, to tell the trainer how to read them.
    pub dir: PathBuf,
}

/// `$SHOPLAB_HOME`, else `~/.shoplab`, else `./.shoplab` when there is no home directory.
pub fn home() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHOPLAB_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).unwrap_or_default();
    base.join(".shoplab")
}

/// Reads the stored secrets in `dir`, generating whichever is missing (dir 0700, files 0600).
pub fn ensure(dir: &Path) -> anyhow::Result<LabSecrets> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    // an existing directory may have been created by hand with looser permissions
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
        .with_context(|| format!("Failed to restrict {} to its owner", dir.display()))?;
    Ok(LabSecrets {
        admin_token: read_or_create(&dir.join(ADMIN_TOKEN_FILE))?,
        jwt_secret: read_or_create(&dir.join(JWT_SECRET_FILE))?,
        dir: dir.to_owned(),
    })
}

/// The stored secret at `path`, or a new random one written there with mode 0600. `create_new` makes
/// two labs starting at once agree on one value: the loser of the race reads the winner's file.
fn read_or_create(path: &Path) -> anyhow::Result<String> {
    if let Some(existing) = read(path)? {
        std::fs::set_permissions(path, Permissions::from_mode(0o600))
            .with_context(|| format!("Failed to restrict {} to its owner", path.display()))?;
        return Ok(existing);
    }
    let secret = generate();
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes()).with_context(|| format!("Failed to write {}", path.display()))?;
            Ok(secret)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read(path)?.with_context(|| format!("{} is empty: delete it and start again", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("Failed to create {}", path.display())),
    }
}

/// The trimmed contents of `path`; `None` when it is missing or empty.
fn read(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("Failed to read {}", path.display())),
    }
}

/// 32 random bytes as 64 hex characters (the thread RNG is a CSPRNG seeded from the OS).
fn generate() -> String {
    rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin token a CLI command uses: an explicit value (`--token`/`--admin-token` or
/// `SHOPLAB_ADMIN_TOKEN`) wins, and an empty one means "admin writes disabled"; without one, the token
/// `shoplab up` stored in [`home`]; `None` when there is none either.
pub fn admin_token(explicit: Option<String>) -> Option<String> {
    admin_token_in(explicit, &home())
}

/// [`admin_token`] with the lab directory given (tests).
pub fn admin_token_in(explicit: Option<String>, dir: &Path) -> Option<String> {
    match explicit {
        Some(t) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
        None => read(&dir.join(ADMIN_TOKEN_FILE)).ok().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("shoplab-secrets-{}", uuid::Uuid::new_v4().simple())).join("home")
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_generated_once_private_and_reused() {
        let dir = scratch();
        let first = ensure(&dir).unwrap();
        assert_eq!(first.admin_token.len(), 64);
        assert!(first.admin_token.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(first.admin_token, first.jwt_secret, "two independent secrets");
        assert_eq!((mode(&dir), mode(&dir.join(ADMIN_TOKEN_FILE)), mode(&dir.join(JWT_SECRET_FILE))), (0o700, 0o600, 0o600));
        let again = ensure(&dir).unwrap();
        assert_eq!((again.admin_token, again.jwt_secret), (first.admin_token.clone(), first.jwt_secret));
        let other = ensure(&scratch()).unwrap();
        assert_ne!(other.admin_token, first.admin_token, "every lab gets its own token");
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
        std::fs::remove_dir_all(other.dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn loose_permissions_are_tightened() {
        let dir = scratch();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join(ADMIN_TOKEN_FILE), "handmade\n").unwrap();
        std::fs::set_permissions(dir.join(ADMIN_TOKEN_FILE), Permissions::from_mode(0o644)).unwrap();
        let s = ensure(&dir).unwrap();
        assert_eq!(s.admin_token, "handmade", "a token written by hand is kept");
        assert_eq!((mode(&dir), mode(&dir.join(ADMIN_TOKEN_FILE))), (0o700, 0o600));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn an_explicit_token_wins_and_an_empty_one_disables_writes() {
        let dir = scratch();
        assert_eq!(admin_token_in(None, &dir), None, "no lab started: no token");
        let stored = ensure(&dir).unwrap().admin_token;
        assert_eq!(admin_token_in(None, &dir), Some(stored));
        assert_eq!(admin_token_in(Some("given".into()), &dir).as_deref(), Some("given"));
        assert_eq!(admin_token_in(Some(String::new()), &dir), None, "set but empty: writes disabled");
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
