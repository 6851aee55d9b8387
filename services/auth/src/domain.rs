//! Validated input: an address, a password and a display name can only exist once they were parsed.
//!
//! Handlers parse request fields into these newtypes first, so every later function can trust them and
//! bad input is always a 422 naming the field. [`Password`] never prints its content, not even in
//! `Debug`, so it cannot end up in a log line or a span by accident.

use std::fmt;

use kit::error::ApiError;

/// Longest address (RFC 5321 path limit).
const MAX_EMAIL: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL: usize = 64;
/// Shortest accepted password.
pub const MIN_PASSWORD: usize = 8;
/// Longest accepted password (argon2 would hash megabytes happily: a cheap DoS).
pub const MAX_PASSWORD: usize = 128;
/// Longest display name.
const MAX_NAME: usize = 80;

/// An email address as the user typed it (trimmed); compared case-insensitively by the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Accepts `local@domain.tld` with printable characters, no spaces and sane lengths.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let s = raw.trim();
        let invalid = |why: &str| ApiError::unprocessable("invalid_email", format!("email: {why}"));
        if s.len() > MAX_EMAIL {
            return Err(invalid("longer than 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else { return Err(invalid("must contain @")) };
        if local.is_empty() || local.len() > MAX_LOCAL || domain.contains('@') {
            return Err(invalid("must look like name@example.com"));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if !labels_ok {
            return Err(invalid("the domain must look like example.com"));
        }
        if local.chars().any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c)) {
            return Err(invalid("contains characters not allowed in an address"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that met the length rules; its content never shows in `Debug` or `Display`.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Between 8 and 128 characters.
    pub fn parse(raw: String) -> Result<Self, ApiError> {
        let n = raw.chars().count();
        if n < MIN_PASSWORD {
            return Err(ApiError::unprocessable("weak_password", format!("password: at least {MIN_PASSWORD} characters")));
        }
        if n > MAX_PASSWORD {
            return Err(ApiError::unprocessable("weak_password", format!("password: at most {MAX_PASSWORD} characters")));
        }
        Ok(Self(raw))
    }

    /// The secret itself, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A display name: 1..=80 characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 || n > MAX_NAME || s.chars().any(char::is_control) {
            return Err(ApiError::unprocessable("invalid_display_name", "display_name: 1 to 80 printable characters"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_keeps_their_case() {
        for ok in ["user1@shoplab.test", "Ada.Lovelace+tag@Example.co.uk", "  x@y.io  "] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Email::parse("Ada@Shoplab.test").unwrap().as_str(), "Ada@Shoplab.test");
    }

    #[test]
    fn rejects_malformed_addresses() {
        let long = format!("{}@x.test", "a".repeat(250));
        for bad in ["", "plain", "@x.test", "a@", "a@b", "a@@b.test", "a b@x.test", "a@x..test", "a@-x test", long.as_str()] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn password_length_rules_and_no_leak_in_debug() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(129)).is_err());
        let p = Password::parse("correct horse".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
        assert_eq!(p.expose(), "correct horse");
    }

    #[test]
    fn display_name_rules() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{0007}b").is_err());
        assert!(DisplayName::parse(&"n".repeat(81)).is_err());
    }
}
