//! Small helpers shared across the crate: clocks, ids, hashing, masking of URLs.

use sha2::{Digest, Sha256};

/// Milliseconds since the unix epoch: every stored time is an INTEGER of these.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new ULID as text: ids are minted in Rust so both SQL dialects store plain TEXT.
pub fn new_id() -> String {
    ulid::Ulid::generate().to_string()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// Lowercase hex, two digits a byte: `hex::encode` builds its string a
/// `char` at a time, a visible share of the webhook path (bench/README.md).
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A database/queue/bus URL safe to print: the password (if any) replaced by `***`.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() && u.set_password(Some("***")).is_err() {
                return "<unprintable url>".to_string();
            }
            u.to_string()
        }
        Err(_) => {
            // Not a URL we can parse: still never echo what could be a secret after '@'.
            match raw.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => raw.to_string(),
            }
        }
    }
}

/// An error and its sources on one line, for `last_error` and logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // thiserror's `transparent` and messages that embed their source
        // would otherwise repeat it.
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_url_hides_password() {
        assert_eq!(
            mask_url("postgres://crm:hunter2@db:5432/crm"),
            "postgres://crm:***@db:5432/crm"
        );
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert!(!mask_url("amqp://guest:guest@localhost:5672/%2f").contains("guest@"));
    }

    #[test]
    fn lower_hex_matches_the_hex_crate() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&all), hex::encode(&all));
        assert_eq!(lower_hex(&[]), "");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn error_chains_name_every_source_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("disk full")]
        struct Disk;
        #[derive(Debug, thiserror::Error)]
        #[error("cannot save the lead")]
        struct Save(#[source] Disk);
        #[derive(Debug, thiserror::Error)]
        #[error("batch failed: {0}")]
        struct Batch(#[source] Disk);
        assert_eq!(error_chain(&Save(Disk)), "cannot save the lead: disk full");
        assert_eq!(error_chain(&Batch(Disk)), "batch failed: disk full");
    }

    #[test]
    fn ids_are_unique_and_sortable_text() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 26);
    }
}
