//! Lenient accessors over `serde_json::Value` shared by the webhook parser and
//! the Graph client.
//!
//! Meta is inconsistent about JSON types (ids as numbers in one payload and as
//! strings in the next, WhatsApp timestamps as strings, Messenger ones as
//! numbers), so every read goes through these helpers instead of typed serde
//! structs: a wrong type yields `None` and the caller decides whether that
//! makes the item unusable.

use serde_json::Value;

/// Reads an id that may be a JSON string or an integer.
///
/// Integers are rendered from their exact `u64`/`i64` value: ad and lead ids
/// exceed 2^53, so a detour through `f64` would silently corrupt them.
/// Floats are rejected for the same reason.
pub(crate) fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                n.as_i64().map(|i| i.to_string())
            }
        }
        _ => None,
    }
}

/// Reads a non-empty string; numbers and other types are not coerced.
pub(crate) fn string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Reads an integer that may be a JSON number or a decimal string.
///
/// WhatsApp sends string seconds, Messenger numeric milliseconds, and both
/// have been seen the other way round in third-party payloads.
pub(crate) fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(i)
            } else if n.as_u64().is_some() {
                // Larger than i64::MAX cannot be a timestamp.
                None
            } else {
                n.as_f64().and_then(integral_f64)
            }
        }
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

fn integral_f64(f: f64) -> Option<i64> {
    // The bounds are exactly representable powers of two, so the cast below
    // cannot saturate.
    const BOUND: f64 = 9.223_372_036_854_776e18;
    if f.is_finite() && f.fract() == 0.0 && (-BOUND..BOUND).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

/// Reads a boolean that may also be encoded as `"1"`/`"0"`, `"true"`/`"false"`
/// or `1`/`0` (Lead Ads uses `"1"` and `""` for checkboxes).
pub(crate) fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => Some(true),
            "0" | "false" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Walks nested object keys; any missing key or non-object step yields `None`.
pub(crate) fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |cur, k| cur.as_object()?.get(*k))
}

/// Returns the array at `v`, or an empty slice for anything else, so loops over
/// optional lists need no special casing.
pub(crate) fn array(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a.as_slice(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_keep_exact_digits() {
        let v: Value = serde_json::from_str("120212345678900123").unwrap();
        assert_eq!(id(Some(&v)).as_deref(), Some("120212345678900123"));
        assert_eq!(id(Some(&json!("0012"))).as_deref(), Some("0012"));
        assert_eq!(id(Some(&json!(-5))).as_deref(), Some("-5"));
        assert_eq!(id(Some(&json!(1.5))), None);
        assert_eq!(id(Some(&json!(""))), None);
        assert_eq!(id(None), None);
    }

    #[test]
    fn ints_accept_strings_and_numbers() {
        assert_eq!(int(Some(&json!("1767225600"))), Some(1_767_225_600));
        assert_eq!(
            int(Some(&json!(1_767_225_600_123_i64))),
            Some(1_767_225_600_123)
        );
        assert_eq!(int(Some(&json!(12.0))), Some(12));
        assert_eq!(int(Some(&json!(12.5))), None);
        assert_eq!(int(Some(&json!(1e300))), None);
        assert_eq!(int(Some(&json!(u64::MAX))), None);
        assert_eq!(int(Some(&json!("x"))), None);
    }

    #[test]
    fn flags() {
        assert_eq!(flag(Some(&json!("1"))), Some(true));
        assert_eq!(flag(Some(&json!(""))), Some(false));
        assert_eq!(flag(Some(&json!(true))), Some(true));
        assert_eq!(flag(Some(&json!(0))), Some(false));
        assert_eq!(flag(Some(&json!("maybe"))), None);
    }
}
