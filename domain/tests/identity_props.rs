//! Property tests for phone numbers, e-mail addresses and masking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crm_domain::email::{mask_email, normalize_email};
use crm_domain::phone::{
    PhoneE164, canonical_whatsapp_phone, mask_phone, normalize_phone, phone_match_keys,
    whatsapp_id_variants,
};
use crm_domain::redact::mask_secret;
use proptest::prelude::*;

/// `phonenumber` parses in about half a millisecond, so the phone properties
/// run fewer cases than proptest's default to keep `cargo test` quick.
fn phone_config() -> ProptestConfig {
    ProptestConfig::with_cases(128)
}

fn region() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "TR", "tr", "BR", "MX", "AR", "US", "GB", "DE", "IN", "", "XX",
    ])
}

/// Strings that look enough like phone numbers to reach `phonenumber`.
fn phoneish() -> impl Strategy<Value = String> {
    "[+]?[0-9 ()./-]{0,24}"
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn share_key(a: &PhoneE164, b: &PhoneE164) -> bool {
    let kb = phone_match_keys(b);
    phone_match_keys(a).iter().any(|k| kb.contains(k))
}

/// Digits `rest` such that `+{prefix}{rest}` is a valid number. Filtering in
/// the strategy (not `prop_assume!`) keeps proptest's rejection budget for
/// sparse numbering plans.
fn valid_after(prefix: &'static str, rest: &'static str) -> impl Strategy<Value = String> {
    rest.prop_filter("not a valid number", move |r| {
        normalize_phone(&format!("+{prefix}{r}"), "").is_some()
    })
}

/// Brazilian area codes (DDD) in use.
const BR_AREAS: &[&str] = &[
    "11", "12", "13", "14", "15", "16", "17", "18", "19", "21", "22", "24", "27", "28", "31", "32",
    "33", "34", "35", "37", "38", "41", "42", "43", "44", "45", "46", "47", "48", "49", "51", "53",
    "54", "55", "61", "62", "63", "64", "65", "66", "67", "68", "69", "71", "73", "74", "75", "77",
    "79", "81", "82", "83", "84", "85", "86", "87", "88", "89", "91", "92", "93", "94", "95", "96",
    "97", "98", "99",
];

/// An area code and a pre-2016 eight-digit mobile number (first digit 6-9)
/// whose nine-digit form is valid today.
fn br_old_mobile() -> impl Strategy<Value = (&'static str, String)> {
    (prop::sample::select(BR_AREAS), "[6-9][0-9]{7}")
        .prop_filter("not a valid Brazilian mobile", |(area, old)| {
            normalize_phone(&format!("+55{area}9{old}"), "").is_some()
        })
}

proptest! {
    #![proptest_config(phone_config())]

    #[test]
    fn normalize_phone_never_panics(raw in any::<String>(), region in region()) {
        let _ = normalize_phone(&raw, region);
    }

    #[test]
    fn normalize_phone_never_panics_on_phoneish(raw in phoneish(), region in region()) {
        let _ = normalize_phone(&raw, region);
    }

    #[test]
    fn normalize_phone_is_idempotent(raw in phoneish(), region in region()) {
        if let Some(p) = normalize_phone(&raw, region) {
            prop_assert_eq!(normalize_phone(p.as_str(), region), Some(p.clone()));
            prop_assert_eq!(normalize_phone(p.as_str(), ""), Some(p.clone()));
            prop_assert!(p.as_str().starts_with('+'));
            prop_assert_eq!(p.digits().len() + 1, p.as_str().len());
        }
    }

    #[test]
    fn turkish_mobile_spellings_agree(rest in valid_after("905", "[0-9]{9}")) {
        let national = format!("5{rest}");
        let canonical = normalize_phone(&format!("+90{national}"), "TR");
        prop_assert!(canonical.is_some());
        let (a, b, c, d) = (&national[0..3], &national[3..6], &national[6..8], &national[8..10]);
        for spelling in [
            format!("0{a} {b} {c} {d}"),
            national.clone(),
            format!("+90 ({a}) {b}-{c}-{d}"),
            format!("90{national}"),
            format!("0090 {a} {b} {c} {d}"),
        ] {
            prop_assert_eq!(&normalize_phone(&spelling, "TR"), &canonical, "{}", spelling);
        }
    }

    #[test]
    fn whatsapp_functions_never_panic(raw in any::<String>()) {
        let _ = whatsapp_id_variants(&raw);
        let _ = canonical_whatsapp_phone(&raw);
    }

    #[test]
    fn whatsapp_variants_start_with_canonical(wa in "[1-9][0-9]{6,14}") {
        let variants = whatsapp_id_variants(&wa);
        let canonical = canonical_whatsapp_phone(&wa);
        prop_assert_eq!(variants.first(), canonical.as_ref());
        for v in &variants {
            prop_assert!(v.as_str().parse::<PhoneE164>().is_ok());
        }
        if let Some(canonical) = variants.first() {
            let keys = phone_match_keys(canonical);
            prop_assert_eq!(keys.first().map(String::as_str), Some(canonical.digits()));
            let mut dedup = keys.clone();
            dedup.sort();
            dedup.dedup();
            prop_assert_eq!(dedup.len(), keys.len());
        }
    }

    #[test]
    fn brazil_ninth_digit_forms_share_a_key((area, old) in br_old_mobile()) {
        let with9 = format!("55{area}9{old}");
        let without9 = format!("55{area}{old}");
        let typed = normalize_phone(&format!("+{with9}"), "").unwrap();

        let from_old_id = canonical_whatsapp_phone(&without9).unwrap();
        let from_new_id = canonical_whatsapp_phone(&with9).unwrap();
        prop_assert_eq!(&from_old_id, &typed);
        prop_assert_eq!(&from_new_id, &typed);
        prop_assert!(share_key(&typed, &from_old_id));
        prop_assert!(phone_match_keys(&typed).contains(&without9));
        // Usually repaired to the nine-digit form, but `phonenumber` still
        // knows some eight-digit 7xxx ranges (Nextel), which stay as typed.
        let typed_old = normalize_phone(&format!("+{without9}"), "").unwrap();
        prop_assert!(share_key(&typed_old, &typed));

        let old_variants = whatsapp_id_variants(&without9);
        let new_variants = whatsapp_id_variants(&with9);
        prop_assert_eq!(&old_variants, &new_variants);
        prop_assert!(old_variants.iter().any(|p| p.digits() == with9));
        prop_assert!(old_variants.iter().any(|p| p.digits() == without9));
    }

    #[test]
    fn mexico_forms_share_a_key(ten in valid_after("52", "[2-9][0-9]{9}")) {
        let typed = normalize_phone(&format!("+52{ten}"), "").unwrap();
        let wa = canonical_whatsapp_phone(&format!("521{ten}")).unwrap();
        prop_assert_eq!(&wa, &typed);
        let legacy = format!("521{ten}");
        prop_assert!(phone_match_keys(&typed).contains(&legacy));
    }

    #[test]
    fn argentina_forms_share_a_key(
        // Buenos Aires, Córdoba and La Plata: random ten-digit strings are
        // almost never valid Argentine numbers.
        ten in valid_after("549", "11[2-9][0-9]{7}|351[2-9][0-9]{6}|221[2-9][0-9]{6}")
    ) {
        let wa = canonical_whatsapp_phone(&format!("549{ten}")).unwrap();
        prop_assert_eq!(wa.digits(), format!("549{ten}"));
        if let Some(typed) = normalize_phone(&format!("+54{ten}"), "") {
            prop_assert!(share_key(&typed, &wa));
        }
    }

    #[test]
    fn mask_phone_hides_some_digits(raw in "[+]?[0-9 ()-]{0,22}") {
        let all = digits(&raw);
        let masked = mask_phone(&raw);
        if all.len() > 6 {
            let shown = digits(&masked);
            prop_assert!(shown.len() < all.len());
            prop_assert!(!shown.contains(&all));
            prop_assert!(!masked.contains(raw.trim()));
        }
    }
}

proptest! {
    #[test]
    fn normalize_email_is_idempotent(raw in any::<String>()) {
        if let Some(e) = normalize_email(&raw) {
            prop_assert_eq!(normalize_email(&e), Some(e.clone()));
        }
    }

    #[test]
    fn normalize_email_is_idempotent_on_emailish(
        raw in "[ ]{0,2}[A-Za-z0-9._%+-]{1,12}@[A-Za-z0-9-]{1,10}(\\.[A-Za-z]{2,4}){1,2}[ ]{0,2}"
    ) {
        let e = normalize_email(&raw);
        prop_assert!(e.is_some());
        let e = e.unwrap();
        prop_assert_eq!(normalize_email(&e), Some(e.clone()));
        prop_assert_eq!(&e, &e.to_lowercase());
    }

    #[test]
    fn normalize_email_ignores_case(
        raw in "[A-Za-z0-9._+-]{1,12}@[A-Za-z0-9-]{1,10}\\.[A-Za-z]{2,4}"
    ) {
        prop_assert_eq!(normalize_email(&raw.to_uppercase()), normalize_email(&raw));
        prop_assert_eq!(normalize_email(&raw.to_lowercase()), normalize_email(&raw));
    }

    #[test]
    fn mask_email_hides_the_address(
        raw in "[a-z0-9._+-]{1,12}@[a-z0-9-]{1,10}\\.[a-z]{2,4}",
        junk in any::<String>(),
    ) {
        let masked = mask_email(&raw);
        prop_assert!(!masked.contains(&raw));
        prop_assert!(!mask_email(&junk).contains('@') || normalize_email(&junk).is_some());
    }

    #[test]
    fn mask_secret_never_reveals_more_than_four_chars(raw in any::<String>()) {
        let masked = mask_secret(&raw);
        let shown = masked.trim_end_matches('…');
        prop_assert!(shown == "***" || shown.chars().count() == 4);
        if raw.chars().count() > 4 {
            prop_assert!(!masked.contains(&raw));
        }
    }
}
