//! Scrubbing of log lines: phone numbers, e-mail addresses and API/Graph
//! tokens never reach a log sink unmasked, whatever a log statement (ours or a
//! dependency's) happened to include. Defence in depth behind the rule that we
//! log ids, not personal data.

use crate::email::{mask_email, normalize_email};
use crate::phone::mask_phone;

fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\''
                | ','
                | ';'
                | '='
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '`'
                | '|'
        )
}

fn looks_like_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (10..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn looks_like_token(s: &str) -> bool {
    let alnum = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    (s.starts_with("crm_") && s.len() >= 36 && alnum(s))
        || (s.starts_with("EAA") && s.len() >= 24 && alnum(s))
}

fn scrub_segment(seg: &str, out: &mut String) {
    // A trailing sentence dot or colon is not part of the value.
    let core = seg.trim_end_matches(['.', ':']);
    let rest = &seg[core.len()..];
    if core.contains('@') && normalize_email(core).is_some() {
        out.push_str(&mask_email(core));
    } else if looks_like_token(core) {
        out.push_str(&mask_secret(core));
    } else if looks_like_phone(core) {
        out.push_str(&mask_phone(core));
    } else {
        out.push_str(core);
    }
    out.push_str(rest);
}

/// Secrets shorter than this are masked completely: four revealed characters
/// would be too large a share of them.
const MASK_MIN_SECRET_CHARS: usize = 12;

/// Masks a token or key for logs: its first four characters and `"…"`, enough
/// to tell which credential was used. Secrets under twelve characters give
/// `"***"`.
pub fn mask_secret(raw: &str) -> String {
    if raw.chars().count() < MASK_MIN_SECRET_CHARS {
        return "***".to_owned();
    }
    let head: String = raw.chars().take(4).collect();
    format!("{head}…")
}

/// The line with every phone-like number, e-mail address and token masked.
pub fn scrub(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut start = 0;
    for (i, c) in line.char_indices() {
        if is_delimiter(c) {
            if start < i {
                scrub_segment(&line[start..i], &mut out);
            }
            out.push(c);
            start = i + c.len_utf8();
        }
    }
    if start < line.len() {
        scrub_segment(&line[start..], &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_personal_data_and_tokens() {
        let line = r#"lead from +905321234567 (wa_id=905321234567) mail Deniz.Kaya@Example.com token crm_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef graph EAAdemoToken1234567890abcd."#;
        let s = scrub(line);
        assert!(!s.contains("5321234567"), "{s}");
        assert!(!s.to_lowercase().contains("deniz.kaya@example.com"), "{s}");
        assert!(!s.contains("0123456789abcdef0123"), "{s}");
        assert!(!s.contains("EAAdemoToken1234567890abcd"), "{s}");
        assert!(s.contains("+90532*****67"), "{s}");
        assert!(s.ends_with('.'));
    }

    #[test]
    fn leaves_ordinary_text_and_ids_alone() {
        let line = "event 01M8688JZW5B574Q430DXJMWK1 status=done attempts=3 took 12ms";
        assert_eq!(scrub(line), line);
        let json = r#"{"phone":"+905321234567","n":42}"#;
        assert_eq!(scrub(json), r#"{"phone":"+90532*****67","n":42}"#);
    }

    #[test]
    fn mask_secret_examples() {
        assert_eq!(mask_secret("sk_live_abcdefghijklmnop"), "sk_l…");
        assert_eq!(mask_secret("çğışöüçğışöü"), "çğış…");
        for short in ["", "abc", "abcdefghijk"] {
            assert_eq!(mask_secret(short), "***");
        }
        let secret = "EAAGm0PX4ZCpsBAKZC1234567890";
        assert!(!mask_secret(secret).contains(secret));
    }

    proptest! {
        #[test]
        fn never_panics_and_hides_embedded_numbers(prefix in "[a-z ]{0,10}", n in 1_000_000_000u64..999_999_999_999_999, suffix in "[a-z ]{0,10}") {
            let s = scrub(&format!("{prefix} {n} {suffix}"));
            prop_assert!(!s.contains(&n.to_string()));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = scrub(&text);
        }
    }
}
