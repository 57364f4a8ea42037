//! Signature checks against the vectors in reference/meta.md section 1.2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_connectors::signature::{
    SignatureError, appsecret_proof, sign_meta_body, verify_meta_signature,
};
use proptest::prelude::*;

const BODY1: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"730194857362910","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"908501112233","phone_number_id":"418273645501234"},"contacts":[{"profile":{"name":"Deniz Kaya"},"wa_id":"905321234567"}],"messages":[{"from":"905321234567","id":"wamid.TEST0001","timestamp":"1767225600","type":"text","text":{"body":"Hi, can I get a price?"}}]},"field":"messages"}]}]}"#;
const SECRET1: &[u8] = b"demo_app_secret_123";
const SIG1: &str = "sha256=b62e69779ca1cf9d012dcde845d8b5839951515cf691f088df4e5036645c8867";
const SIG1_NEWLINE: &str =
    "sha256=868c47239a421aaa56826c63090c14eedca40eab01a7576241ea91c9f1ea0481";
const SIG1_OTHER_SECRET: &str =
    "sha256=917c464f9a2a3dbc9502d34dcfcfde5077ff2ddda8e83eb21d45a074bc262153";

#[test]
fn vector1_signs_and_verifies() {
    assert_eq!(BODY1.len(), 443);
    assert_eq!(sign_meta_body(SECRET1, BODY1.as_bytes()), SIG1);
    assert_eq!(
        verify_meta_signature(SECRET1, BODY1.as_bytes(), Some(SIG1)),
        Ok(())
    );
}

#[test]
fn vector1_must_fail_variants() {
    let with_newline = format!("{BODY1}\n");
    assert_eq!(with_newline.len(), 444);
    assert_eq!(
        sign_meta_body(SECRET1, with_newline.as_bytes()),
        SIG1_NEWLINE
    );
    // The newline variant's signature must not validate the original body ...
    assert_eq!(
        verify_meta_signature(SECRET1, BODY1.as_bytes(), Some(SIG1_NEWLINE)),
        Err(SignatureError::Mismatch)
    );
    // ... nor the original signature the body with a newline.
    assert_eq!(
        verify_meta_signature(SECRET1, with_newline.as_bytes(), Some(SIG1)),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        sign_meta_body(b"demo_app_secret_124", BODY1.as_bytes()),
        SIG1_OTHER_SECRET
    );
    assert_eq!(
        verify_meta_signature(SECRET1, BODY1.as_bytes(), Some(SIG1_OTHER_SECRET)),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_meta_signature(b"demo_app_secret_124", BODY1.as_bytes(), Some(SIG1)),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn vector2_and_appsecret_proof() {
    let body = br#"{"object":"page","entry":[]}"#;
    assert_eq!(body.len(), 28);
    let sig = "sha256=0b36918e92cea1735987421f3800c4016053b7e8951c42caa969731f7b34bcd5";
    assert_eq!(sign_meta_body(b"s3cr3t", body), sig);
    assert_eq!(verify_meta_signature(b"s3cr3t", body, Some(sig)), Ok(()));
    assert_eq!(
        appsecret_proof(SECRET1, "EAAdemoToken123"),
        "691027129ae519b7d686c287abf4e59e16a86dc250e8ad1d0dd4cf59a2008cfa"
    );
}

#[test]
fn header_shapes() {
    let body = BODY1.as_bytes();
    assert_eq!(
        verify_meta_signature(SECRET1, body, None),
        Err(SignatureError::Missing)
    );
    assert_eq!(
        verify_meta_signature(SECRET1, body, Some("  ")),
        Err(SignatureError::Missing)
    );
    // Tolerated: uppercase prefix/hex and surrounding whitespace.
    let upper = format!(" SHA256={} ", SIG1["sha256=".len()..].to_uppercase());
    assert_eq!(verify_meta_signature(SECRET1, body, Some(&upper)), Ok(()));
    for bad in [
        "sha1=0b36918e92cea1735987421f3800c4016053b7e8",
        "b62e69779ca1cf9d012dcde845d8b5839951515cf691f088df4e5036645c8867",
        "sha256=zz",
        "sha256=b62e69",
        "sha256=",
        "sha2",
        "sha256=ü62e69779ca1cf9d012dcde845d8b5839951515cf691f088df4e5036645c886",
    ] {
        assert!(
            matches!(
                verify_meta_signature(SECRET1, body, Some(bad)),
                Err(SignatureError::Malformed(_))
            ),
            "{bad}"
        );
    }
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(secret in proptest::collection::vec(any::<u8>(), 0..200),
                                    body in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let sig = sign_meta_body(&secret, &body);
        prop_assert!(sig.starts_with("sha256="));
        prop_assert_eq!(sig.len(), 7 + 64);
        prop_assert_eq!(verify_meta_signature(&secret, &body, Some(&sig)), Ok(()));
    }

    #[test]
    fn tampered_body_fails(secret in proptest::collection::vec(any::<u8>(), 1..64),
                           body in proptest::collection::vec(any::<u8>(), 1..500),
                           idx in any::<prop::sample::Index>(),
                           flip in 1u8..=255) {
        let sig = sign_meta_body(&secret, &body);
        let mut tampered = body.clone();
        let i = idx.index(tampered.len());
        tampered[i] ^= flip;
        prop_assert_eq!(verify_meta_signature(&secret, &tampered, Some(&sig)), Err(SignatureError::Mismatch));
        let mut longer = body.clone();
        longer.push(b'\n');
        prop_assert_eq!(verify_meta_signature(&secret, &longer, Some(&sig)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn tampered_signature_or_secret_fails(secret in proptest::collection::vec(any::<u8>(), 1..64),
                                          body in proptest::collection::vec(any::<u8>(), 0..500),
                                          pos in 7usize..71) {
        let sig = sign_meta_body(&secret, &body);
        let mut chars: Vec<char> = sig.chars().collect();
        chars[pos] = if chars[pos] == '0' { '1' } else { '0' };
        let bad: String = chars.into_iter().collect();
        prop_assert_eq!(verify_meta_signature(&secret, &body, Some(&bad)), Err(SignatureError::Mismatch));
        let mut other = secret.clone();
        other[0] ^= 1;
        prop_assert_eq!(verify_meta_signature(&other, &body, Some(&sig)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn arbitrary_headers_never_panic(header in ".{0,120}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = verify_meta_signature(b"k", &body, Some(&header));
    }
}
