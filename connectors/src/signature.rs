//! Meta webhook signatures (`X-Hub-Signature-256`) and Graph `appsecret_proof`.
//!
//! Both are HMAC-SHA256 keyed with the App Secret. The webhook signature covers
//! the raw request body bytes exactly as received, so callers must verify
//! before parsing and must never re-serialise the JSON to check it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";
const DIGEST_LEN: usize = 32;

/// Why a webhook signature was rejected. Every variant maps to 401/403 at the
/// HTTP edge; the distinction only feeds metrics and logs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("missing X-Hub-Signature-256 header")]
    Missing,
    #[error("malformed X-Hub-Signature-256 header: {0}")]
    Malformed(&'static str),
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

fn mac(key: &[u8]) -> Option<HmacSha256> {
    // HMAC accepts keys of any length (long keys are hashed), so this never
    // fails in practice; the Option only avoids a panic path.
    HmacSha256::new_from_slice(key).ok()
}

fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    match mac(key) {
        Some(mut m) => {
            m.update(msg);
            hex::encode(m.finalize().into_bytes())
        }
        None => String::new(),
    }
}

/// Computes the `X-Hub-Signature-256` header value Meta would send for `body`:
/// `sha256=` followed by the lowercase hex HMAC-SHA256.
pub fn sign_meta_body(app_secret: &[u8], body: &[u8]) -> String {
    format!("{PREFIX}{}", hmac_hex(app_secret, body))
}

/// Checks an `X-Hub-Signature-256` header against the raw body in constant
/// time.
///
/// The `sha256=` prefix is matched case-insensitively and surrounding
/// whitespace is tolerated because proxies occasionally normalise headers;
/// the digest itself must be 64 hex digits.
pub fn verify_meta_signature(
    app_secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.map(str::trim).unwrap_or_default();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let digest_hex = match header.split_at_checked(PREFIX.len()) {
        Some((p, rest)) if p.eq_ignore_ascii_case(PREFIX) => rest,
        _ => return Err(SignatureError::Malformed("expected sha256= prefix")),
    };
    let mut expected = [0u8; DIGEST_LEN];
    hex::decode_to_slice(digest_hex, &mut expected).map_err(|e| match e {
        hex::FromHexError::InvalidStringLength => {
            SignatureError::Malformed("digest is not 32 bytes")
        }
        _ => SignatureError::Malformed("digest is not hex"),
    })?;
    let mut m = mac(app_secret).ok_or(SignatureError::Mismatch)?;
    m.update(body);
    m.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// Computes the Graph API `appsecret_proof` for an access token: lowercase hex
/// HMAC-SHA256 keyed with the App Secret over the token.
pub fn appsecret_proof(app_secret: &[u8], access_token: &str) -> String {
    hmac_hex(app_secret, access_token.as_bytes())
}
