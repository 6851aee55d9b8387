//! Parsing and validating flag values: `shoplab flags set NAME VALUE` gives text, `PUT /admin/flags`
//! gives JSON; both end up as the JSON value stored in `lab.flags`, or as a [`FlagError`] naming the
//! valid flags and the expected type.

use serde_json::Value;

use super::registry::{FlagDef, Kind, find, names};

/// Why a flag write was refused.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error("unknown flag '{name}'; valid flags: {}", valid.join(", "))]
    Unknown { name: String, valid: Vec<&'static str> },
    #[error("flag '{name}' expects {expected}, got {got}; valid flags: {}", valid.join(", "))]
    WrongType { name: String, expected: String, got: String, valid: Vec<&'static str> },
    #[error("unknown preset '{name}'; valid presets: {}", super::registry::PRESETS.join(", "))]
    UnknownPreset { name: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Human description of a kind, for errors and docs.
pub fn describe_kind(kind: &Kind) -> String {
    match kind {
        Kind::Bool => "a boolean (true | false)".to_owned(),
        Kind::Int { min, max } => format!("an integer in {min}..={max}"),
        Kind::Float { min, max } => format!("a number in {min}..={max}"),
        Kind::Enum(vs) => format!("one of {}", vs.join(" | ")),
    }
}

/// Resolves `name` or fails with the list of valid flags.
pub fn def(name: &str) -> Result<&'static FlagDef, FlagError> {
    find(name).ok_or_else(|| FlagError::Unknown { name: name.to_owned(), valid: names() })
}

/// Parses CLI text (`true`, `300`, `0.3`, `flaky`) by the flag's type.
pub fn parse_text(name: &str, raw: &str) -> Result<Value, FlagError> {
    let d = def(name)?;
    let raw = raw.trim();
    let parsed = match d.kind {
        Kind::Bool => match raw.to_ascii_lowercase().as_str() {
            "true" | "on" | "1" | "yes" => Some(Value::Bool(true)),
            "false" | "off" | "0" | "no" => Some(Value::Bool(false)),
            _ => None,
        },
        Kind::Int { .. } => raw.parse::<i64>().ok().map(Value::from),
        Kind::Float { .. } => raw.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from),
        Kind::Enum(_) => Some(Value::from(raw)),
    };
    let value = parsed.ok_or_else(|| wrong(d, raw))?;
    validate(name, &value)
}

/// Checks a JSON value against the flag's type and range; strings are parsed like CLI text.
pub fn validate(name: &str, value: &Value) -> Result<Value, FlagError> {
    let d = def(name)?;
    let ok = match (d.kind, value) {
        (Kind::Bool, Value::Bool(_)) => true,
        (Kind::Int { min, max }, Value::Number(n)) => n.as_i64().is_some_and(|i| (min..=max).contains(&i)),
        (Kind::Float { min, max }, Value::Number(n)) => n.as_f64().is_some_and(|f| f >= min && f <= max),
        (Kind::Enum(vs), Value::String(s)) => vs.contains(&s.as_str()),
        (Kind::Enum(_), _) => false,
        (_, Value::String(s)) => return parse_text(name, s),
        _ => false,
    };
    if ok { Ok(value.clone()) } else { Err(wrong(d, &value.to_string())) }
}

fn wrong(d: &FlagDef, got: &str) -> FlagError {
    FlagError::WrongType { name: d.name.to_owned(), expected: describe_kind(&d.kind), got: got.to_owned(), valid: names() }
}

/// The number exported in `shoplab_flag_value`: bools 0/1, numbers as is, enums by position.
pub fn gauge_value(d: &FlagDef, value: &Value) -> f64 {
    match (d.kind, value) {
        (Kind::Bool, Value::Bool(b)) => f64::from(u8::from(*b)),
        (Kind::Enum(vs), Value::String(s)) => vs.iter().position(|v| v == s).unwrap_or(0) as f64,
        (_, Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_values_parse_by_type() {
        assert_eq!(parse_text("product.eager_loading", "true").unwrap(), json!(true));
        assert_eq!(parse_text("product.cache_ttl_secs", "300").unwrap(), json!(300));
        assert_eq!(parse_text("emailprovider.error_rate", "0.3").unwrap(), json!(0.3));
        assert_eq!(parse_text("emailprovider.mode", "flaky").unwrap(), json!("flaky"));
    }

    #[test]
    fn wrong_types_and_ranges_are_refused() {
        assert!(matches!(parse_text("product.eager_loading", "maybe"), Err(FlagError::WrongType { .. })));
        assert!(matches!(validate("product.cache_ttl_secs", &json!(0)), Err(FlagError::WrongType { .. })));
        assert!(matches!(validate("product.cache_ttl_secs", &json!(true)), Err(FlagError::WrongType { .. })));
        assert!(matches!(validate("emailprovider.mode", &json!("broken")), Err(FlagError::WrongType { .. })));
        assert!(matches!(validate("emailprovider.error_rate", &json!(1.5)), Err(FlagError::WrongType { .. })));
        assert!(matches!(validate("no.such", &json!(1)), Err(FlagError::Unknown { .. })));
    }
}
