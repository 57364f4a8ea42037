//! Phone numbers: turning what people type and what WhatsApp sends into one
//! E.164 form, the keys under which one subscriber may already be known, and
//! masking for logs.
//!
//! Everything here is a pure function that never panics on input, because it
//! runs on untrusted webhook payloads and form fields.
//!
//! Region arguments are ISO 3166 alpha-2 codes ("TR", "br"), compared
//! case-insensitively; an empty or unknown code means "no default region".

use std::fmt;
use std::str::FromStr;

use phonenumber::Mode;
use phonenumber::country::Id as CountryId;
use phonenumber::metadata::DATABASE;

/// E.164 allows at most 15 digits after the "+".
const E164_MAX_DIGITS: usize = 15;

/// Room for the longest E.164 number plus an international dialling prefix
/// such as "0011" or a national trunk prefix; anything longer is not a phone.
const RAW_MAX_DIGITS: usize = E164_MAX_DIGITS + 4;

/// The shortest international numbers in service (small Pacific islands) have
/// seven digits including the country code.
const WA_MIN_DIGITS: usize = 7;

/// A phone number in E.164 form: `+` followed by 1–15 digits, the first of
/// which is not `0`.
///
/// Only [`normalize_phone`], [`canonical_whatsapp_phone`],
/// [`whatsapp_id_variants`] and the checked conversions ([`FromStr`],
/// [`TryFrom<String>`], serde) build one, so the shape is always as above;
/// deserialising a malformed string fails instead of smuggling it in.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String")]
pub struct PhoneE164(String);

/// Returned when a string is not of the `+<digits>` E.164 shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 phone number (expected '+' and 1-15 digits)")]
pub struct InvalidPhoneE164;

impl PhoneE164 {
    /// The number with its leading `+`, e.g. `"+905321234567"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number without the `+`, e.g. `"905321234567"`; this is also the
    /// shape WhatsApp uses for `wa_id`.
    pub fn digits(&self) -> &str {
        // The invariant guarantees the '+', but a slice must not be able to
        // panic even if that ever changes.
        self.0.strip_prefix('+').unwrap_or(&self.0)
    }

    fn from_digits(digits: &str) -> Option<Self> {
        let ok = (1..=E164_MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| Self(format!("+{digits}")))
    }
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PhoneE164 {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Checks only the shape, not whether the number exists: this is for reading
/// back stored values, which were validated on the way in, and a metadata
/// update must not make existing customers' phones unreadable.
impl FromStr for PhoneE164 {
    type Err = InvalidPhoneE164;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix('+')
            .and_then(Self::from_digits)
            .ok_or(InvalidPhoneE164)
    }
}

impl TryFrom<String> for PhoneE164 {
    type Error = InvalidPhoneE164;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PhoneE164> for String {
    fn from(p: PhoneE164) -> Self {
        p.0
    }
}

// ---------------------------------------------------------------------------
// Phone normalisation
// ---------------------------------------------------------------------------

/// Loads the phone-number metadata now rather than in the first request or
/// job that needs it, which would otherwise wait for it (bench/README.md).
pub fn warm_up() {
    let _ = normalize_phone("+90 532 123 45 67", "TR");
}

/// Normalises a typed phone number to E.164.
///
/// Tried in order, first valid wins:
/// 1. a number written with a leading `+` is taken as international and
///    nothing else is tried;
/// 2. the number as dialled in `default_region` (national format, or with
///    that region's international prefix such as `00`);
/// 3. a leading `00` read as the international prefix, for callers without a
///    default region or whose region dials abroad differently (US `011`);
/// 4. the bare digits as an international number without the `+`
///    (`"905321234567"`, `"447911123456"`), which is how people paste
///    numbers copied from WhatsApp or spreadsheets.
///
/// Validity is decided by `phonenumber`'s metadata. One addition: when the
/// only readings are invalid but one is a legacy spelling that the country
/// has since rewritten — a Brazilian mobile without its ninth digit, a
/// Mexican mobile with the `1` dropped in 2019 — the current form is returned
/// if it is valid, because both spellings reach the same person and old
/// address books are full of them.
///
/// Only digits, whitespace and `+ ( ) - . /` are accepted; letters,
/// extensions (`"ext. 12"`) and anything else give `None`, as do numbers that
/// are too short, too long or invalid.
pub fn normalize_phone(raw: &str, default_region: &str) -> Option<PhoneE164> {
    let (plus, digits) = phone_digits(raw)?;
    let region = region_id(default_region);

    let mut attempts: Vec<(Option<CountryId>, String)> = Vec::with_capacity(3);
    if plus {
        attempts.push((None, format!("+{digits}")));
    } else {
        if let Some(region) = region {
            attempts.push((Some(region), digits.clone()));
        }
        if let Some(rest) = digits.strip_prefix("00") {
            attempts.push((None, format!("+{rest}")));
        }
        attempts.push((None, format!("+{digits}")));
    }

    let mut invalid_readings = Vec::new();
    for (region, text) in &attempts {
        match read_number(*region, text) {
            Some(r) if r.valid => return PhoneE164::from_digits(&r.digits),
            Some(r) => invalid_readings.push(r.digits),
            None => {}
        }
    }

    invalid_readings.iter().find_map(|digits| {
        let forms = number_forms(digits)?;
        (forms.preferred != *digits && is_valid_digits(&forms.preferred))
            .then(|| PhoneE164::from_digits(&forms.preferred))
            .flatten()
    })
}

/// Splits raw input into "written with +" and its digits, rejecting anything
/// that is not plausibly just a formatted phone number. Doing this before
/// `phonenumber` sees the text keeps free text (which its parser has been
/// known to panic on) away from it, and makes "call me at 0532…" a `None`
/// rather than a guess.
fn phone_digits(raw: &str) -> Option<(bool, String)> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !(c.is_whitespace() || matches!(c, '(' | ')' | '-' | '.' | '/')) {
            return None;
        }
    }
    (!digits.is_empty() && digits.len() <= RAW_MAX_DIGITS).then_some((plus, digits))
}

fn region_id(code: &str) -> Option<CountryId> {
    let code = code.trim().to_ascii_uppercase();
    if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let id = CountryId::from_str(&code).ok()?;
    // `phonenumber` unwraps the metadata of the region it is given, so a
    // region it has an id but no data for must never reach it.
    DATABASE.by_id(id.as_ref()).map(|_| id)
}

/// What `phonenumber` made of a string.
struct Reading {
    /// E.164 digits, without `+`.
    digits: String,
    valid: bool,
    country_code: u16,
}

/// `None` if `phonenumber` does not see a number at all.
fn read_number(region: Option<CountryId>, text: &str) -> Option<Reading> {
    // `phonenumber` has had panics on malformed input (unwraps inside its
    // parser), and an identity lookup on a webhook must not take the worker
    // down with it. Input is pre-sanitised to digits, which makes this fence
    // a last resort rather than the main defence.
    std::panic::catch_unwind(|| {
        let number = phonenumber::parse(region, text).ok()?;
        let e164 = number.format().mode(Mode::E164).to_string();
        let digits = e164.strip_prefix('+')?.to_owned();
        PhoneE164::from_digits(&digits)?;
        Some(Reading {
            digits,
            valid: number.is_valid(),
            country_code: number.code().value(),
        })
    })
    .ok()
    .flatten()
}

/// Reads `digits` as an international number and insists that `phonenumber`
/// keeps it unchanged, so a "valid" answer is about exactly these digits.
fn read_international(digits: &str) -> Option<Reading> {
    read_number(None, &format!("+{digits}")).filter(|r| r.digits == digits)
}

fn is_valid_digits(digits: &str) -> bool {
    read_international(digits).is_some_and(|r| r.valid)
}

/// Valid, or at least of a length the country's numbering plan allows.
fn is_plausible_digits(digits: &str) -> bool {
    let Some(reading) = read_international(digits) else {
        return false;
    };
    if reading.valid {
        return true;
    }
    let code = reading.country_code;
    let national_len = digits.len().saturating_sub(code.to_string().len());
    DATABASE.by_code(&code).is_some_and(|metas| {
        metas.iter().any(|m| {
            m.descriptors()
                .general()
                .possible_length()
                .iter()
                .any(|&l| usize::from(l) == national_len)
        })
    })
}

// ---------------------------------------------------------------------------
// WhatsApp ids and match keys
// ---------------------------------------------------------------------------

/// The spellings of one subscriber's number that differ only by a national
/// numbering change WhatsApp ids may still carry.
struct NumberForms {
    /// The spelling we store: the one valid under today's numbering plan.
    preferred: String,
    /// The other spellings of the same subscriber.
    others: Vec<String>,
}

/// Brazil: in 2012–2016 every mobile got a ninth digit `9` in front of its
/// old eight digits; WhatsApp accounts created before that still have ids
/// without it. Old mobile numbers started with 6–9, landlines with 2–5, so
/// only those are paired; otherwise a landline would be matched to someone's
/// mobile.
///
/// Mexico: until 2019 mobiles were dialled from abroad as `+52 1` + 10 digits;
/// WhatsApp ids still use `521…`, the numbering plan now uses `52` + 10.
///
/// Argentina: mobiles are `+54 9` + 10 digits internationally (and that is
/// what both WhatsApp and E.164 use), but people write them without the `9`.
/// Twelve-digit `54…` numbers are kept as written since they are also how
/// landlines are written; the mobile form is only an alternative.
///
/// Returns `None` for numbers outside these rules.
fn number_forms(d: &str) -> Option<NumberForms> {
    let b = d.as_bytes();
    let is_digit = |i: usize, set: &[u8]| b.get(i).is_some_and(|c| set.contains(c));
    const ONE_TO_NINE: &[u8] = b"123456789";
    const OLD_MOBILE_START: &[u8] = b"6789";
    const MX_AREA_START: &[u8] = b"23456789";
    const AR_AREA_START: &[u8] = b"123";

    if let Some(rest) = d.strip_prefix("55") {
        let area_ok = is_digit(2, ONE_TO_NINE) && is_digit(3, ONE_TO_NINE);
        if !area_ok {
            return None;
        }
        let (area, subscriber) = rest.split_at_checked(2)?;
        return match d.len() {
            13 if is_digit(4, b"9") && is_digit(5, OLD_MOBILE_START) => Some(NumberForms {
                preferred: d.to_owned(),
                others: vec![format!("55{area}{}", subscriber.get(1..)?)],
            }),
            12 if is_digit(4, OLD_MOBILE_START) => Some(NumberForms {
                preferred: format!("55{area}9{subscriber}"),
                others: vec![d.to_owned()],
            }),
            _ => None,
        };
    }

    if let Some(rest) = d.strip_prefix("52") {
        return match d.len() {
            13 if is_digit(2, b"1") && is_digit(3, MX_AREA_START) => {
                let ten = rest.get(1..)?;
                Some(NumberForms {
                    preferred: format!("52{ten}"),
                    others: vec![d.to_owned()],
                })
            }
            12 if is_digit(2, MX_AREA_START) => Some(NumberForms {
                preferred: d.to_owned(),
                others: vec![format!("521{rest}")],
            }),
            _ => None,
        };
    }

    if let Some(rest) = d.strip_prefix("54") {
        return match d.len() {
            13 if is_digit(2, b"9") && is_digit(3, AR_AREA_START) => Some(NumberForms {
                preferred: d.to_owned(),
                others: vec![format!("54{}", rest.get(1..)?)],
            }),
            12 if is_digit(2, AR_AREA_START) => Some(NumberForms {
                preferred: d.to_owned(),
                others: vec![format!("549{rest}")],
            }),
            _ => None,
        };
    }

    None
}

/// WhatsApp ids are digits without `+`; tolerate a stray `+` and surrounding
/// whitespace, nothing else.
fn wa_digits(wa_id: &str) -> Option<&str> {
    let trimmed = wa_id.trim();
    let d = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let ok = (WA_MIN_DIGITS..=E164_MAX_DIGITS).contains(&d.len())
        && d.bytes().all(|b| b.is_ascii_digit())
        && !d.starts_with('0');
    ok.then_some(d)
}

/// The phone number to store for a WhatsApp contact.
///
/// * Brazil: mobiles with the ninth digit (`5511987654321`, also for ids sent
///   as `551187654321`), provided that form is valid.
/// * Mexico: `52` + 10 digits, without the legacy `1`.
/// * Argentina: mobiles keep the `9` (`+549…`), which is both what WhatsApp
///   sends and the E.164 form `phonenumber` produces for Argentine mobiles.
///   A twelve-digit `54…` id is kept as is when valid (it is how landlines
///   are written), and only turned into `549…` when it is not valid.
/// * Everyone else: `+wa_id`.
///
/// The result must be a valid number, or failing that one whose length the
/// country's numbering plan allows (WhatsApp has verified the number, so a
/// range newer than our metadata is still real); `None` otherwise.
pub fn canonical_whatsapp_phone(wa_id: &str) -> Option<PhoneE164> {
    let d = wa_digits(wa_id)?;
    let candidates: Vec<String> = match number_forms(d) {
        Some(forms) => std::iter::once(forms.preferred)
            .chain(forms.others)
            .collect(),
        None => vec![d.to_owned()],
    };
    candidates
        .iter()
        .find(|c| is_valid_digits(c))
        .or_else(|| candidates.iter().find(|c| is_plausible_digits(c)))
        .and_then(|c| PhoneE164::from_digits(c))
}

/// Every E.164 spelling under which the WhatsApp user `wa_id` may already be
/// known: [`canonical_whatsapp_phone`] first, then the other spellings from
/// the Brazil/Mexico/Argentina rules (these need not be valid today — they
/// are what old records and ids contain). Empty when `wa_id` is not a
/// plausible number.
pub fn whatsapp_id_variants(wa_id: &str) -> Vec<PhoneE164> {
    let Some(canonical) = canonical_whatsapp_phone(wa_id) else {
        return Vec::new();
    };
    let mut out = vec![canonical];
    if let Some(forms) = wa_digits(wa_id).and_then(number_forms) {
        for d in std::iter::once(forms.preferred).chain(forms.others) {
            if let Some(p) = PhoneE164::from_digits(&d)
                && !out.contains(&p)
            {
                out.push(p);
            }
        }
    }
    out
}

/// Identity keys for a phone: its own digits first, then the other
/// Brazil/Mexico/Argentina spellings of the same subscriber, deduplicated.
///
/// Storing and looking up by all of them makes a typed `+55 11 98765-4321`
/// and a WhatsApp id `551187654321` (or `+52 55…` and `521 55…`, `+54 9 11…`
/// and `54 11…`) share a key, whichever side arrived first.
pub fn phone_match_keys(p: &PhoneE164) -> Vec<String> {
    let own = p.digits();
    let mut keys = vec![own.to_owned()];
    if let Some(forms) = number_forms(own) {
        for k in std::iter::once(forms.preferred).chain(forms.others) {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys
}

// ---------------------------------------------------------------------------
// Masking for logs
// ---------------------------------------------------------------------------

/// Fewer digits than this and even a partial reveal says too much.
const MASK_MIN_PHONE_DIGITS: usize = 7;

/// Masks a phone number for logs: country code and the next three digits, then
/// `*` per hidden digit, then the last two — `"+90532*****67"`.
///
/// At least a third of the digits (and never fewer than three) stay hidden,
/// so short numbers show less than the rule above. Without a `+` the country
/// code cannot be told apart and only three leading digits are kept. Input
/// that is not just a formatted number, or has fewer than seven digits, gives
/// `"***"`.
pub fn mask_phone(raw: &str) -> String {
    let Some((plus, digits)) = phone_digits(raw) else {
        return "***".to_owned();
    };
    let n = digits.len();
    if n < MASK_MIN_PHONE_DIGITS {
        return "***".to_owned();
    }
    let country_len = if plus {
        read_number(None, &format!("+{digits}"))
            .map(|r| r.country_code.to_string().len())
            .unwrap_or(0)
    } else {
        0
    };
    let tail = 2;
    let min_hidden = (n / 3).max(3);
    let head = (country_len + 3).min(n.saturating_sub(tail + min_hidden));
    let hidden = n.saturating_sub(head + tail);

    let mut out = String::with_capacity(n + 1);
    if plus {
        out.push('+');
    }
    out.push_str(digits.get(..head).unwrap_or_default());
    out.extend(std::iter::repeat_n('*', hidden));
    out.push_str(digits.get(n.saturating_sub(tail)..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn phone(raw: &str, region: &str) -> Option<String> {
        normalize_phone(raw, region).map(|p| p.as_str().to_owned())
    }

    fn strs(v: &[PhoneE164]) -> Vec<&str> {
        v.iter().map(PhoneE164::as_str).collect()
    }

    #[test]
    fn tr_spellings_normalise_to_one_number() {
        for raw in [
            "0532 123 45 67",
            "5321234567",
            "+90 (532) 123-45-67",
            "905321234567",
            "0090 532 123 45 67",
            "+905321234567",
            "  0532-123-45-67 ",
            "0532.123.45.67",
            "(0532) 123 45 67",
        ] {
            assert_eq!(phone(raw, "TR").as_deref(), Some("+905321234567"), "{raw}");
        }
    }

    #[test]
    fn region_is_case_insensitive_and_unknown_means_none() {
        assert_eq!(
            phone("0532 123 45 67", "tr").as_deref(),
            Some("+905321234567")
        );
        assert_eq!(
            phone("0532 123 45 67", " Tr ").as_deref(),
            Some("+905321234567")
        );
        // A national number means nothing without a region...
        assert_eq!(phone("0532 123 45 67", "").as_deref(), None);
        assert_eq!(phone("0532 123 45 67", "XX").as_deref(), None);
        assert_eq!(phone("0532 123 45 67", "TUR").as_deref(), None);
        // ...but international spellings still work.
        assert_eq!(phone("905321234567", "").as_deref(), Some("+905321234567"));
        assert_eq!(
            phone("0090 532 123 45 67", "").as_deref(),
            Some("+905321234567")
        );
        assert_eq!(
            phone("+905321234567", "ZZ").as_deref(),
            Some("+905321234567")
        );
    }

    #[test]
    fn bare_international_digits_fall_back_when_region_reading_fails() {
        assert_eq!(
            phone("447911123456", "TR").as_deref(),
            Some("+447911123456")
        );
        assert_eq!(
            phone("5511987654321", "TR").as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            phone("905321234567", "US").as_deref(),
            Some("+905321234567")
        );
        // US dials abroad with 011, yet 00 is what people write.
        assert_eq!(
            phone("0090 532 123 45 67", "US").as_deref(),
            Some("+905321234567")
        );
        // The region's own reading wins when it is valid.
        assert_eq!(
            phone("11987654321", "BR").as_deref(),
            Some("+5511987654321")
        );
    }

    #[test]
    fn legacy_spellings_are_brought_up_to_date() {
        // Brazilian mobile written without the ninth digit.
        assert_eq!(
            phone("+55 11 8765-4321", "").as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            phone("(11) 8765-4321", "BR").as_deref(),
            Some("+5511987654321")
        );
        // A Brazilian landline is left alone.
        assert_eq!(
            phone("+55 11 3234-5678", "").as_deref(),
            Some("+551132345678")
        );
        // Mexican mobile with the pre-2019 "1".
        assert_eq!(
            phone("+52 1 55 1234 5678", "").as_deref(),
            Some("+525512345678")
        );
        assert_eq!(
            phone("+52 55 1234 5678", "").as_deref(),
            Some("+525512345678")
        );
        // Argentine mobile, both with 9 and with the domestic 15.
        assert_eq!(
            phone("+54 9 11 1234-5678", "").as_deref(),
            Some("+5491112345678")
        );
        assert_eq!(
            phone("+54 11 15 1234-5678", "").as_deref(),
            Some("+5491112345678")
        );
    }

    #[test]
    fn invalid_phones_are_rejected() {
        for raw in [
            "",
            "   ",
            "+",
            "abc",
            "0532 ABC 45 67",
            "call 05321234567",
            "12",
            "123456",
            "+90 532",
            "+90 532 123 45 67 89 01 23",
            "99999999999999999999999999",
            "+0 532 123 45 67",
            "0532 123 45 67 ext. 12",
            "+90 (000) 000-00-00",
            "0532123456",
            "+1 555 0100",
            "++905321234567",
            "+90+5321234567",
            "٠٥٣٢١٢٣٤٥٦٧",
        ] {
            assert_eq!(phone(raw, "TR"), None, "{raw:?}");
        }
    }

    #[test]
    fn phone_accessors_and_serde() {
        let p = normalize_phone("0532 123 45 67", "TR").unwrap();
        assert_eq!(p.as_str(), "+905321234567");
        assert_eq!(p.digits(), "905321234567");
        assert_eq!(p.to_string(), "+905321234567");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+905321234567\"");
        assert_eq!(serde_json::from_str::<PhoneE164>(&json).unwrap(), p);
        for bad in [
            "\"905321234567\"",
            "\"+\"",
            "\"+0532\"",
            "\"+90 532\"",
            "\"\"",
        ] {
            assert!(serde_json::from_str::<PhoneE164>(bad).is_err(), "{bad}");
        }
        assert_eq!("+905321234567".parse::<PhoneE164>().unwrap(), p);
        assert_eq!(
            "+1234567890123456".parse::<PhoneE164>(),
            Err(InvalidPhoneE164)
        );
    }

    #[test]
    fn brazil_ninth_digit_both_ways() {
        let with9 = "5511987654321";
        let without9 = "551187654321";
        assert_eq!(
            canonical_whatsapp_phone(without9).unwrap().as_str(),
            "+5511987654321"
        );
        assert_eq!(
            canonical_whatsapp_phone(with9).unwrap().as_str(),
            "+5511987654321"
        );
        assert_eq!(
            strs(&whatsapp_id_variants(without9)),
            ["+5511987654321", "+551187654321"]
        );
        assert_eq!(
            strs(&whatsapp_id_variants(with9)),
            ["+5511987654321", "+551187654321"]
        );
        let typed = normalize_phone("(11) 98765-4321", "BR").unwrap();
        assert_eq!(phone_match_keys(&typed), [with9, without9]);
        let wa = canonical_whatsapp_phone(without9).unwrap();
        assert_eq!(phone_match_keys(&wa), [with9, without9]);
    }

    #[test]
    fn brazil_landlines_and_new_mobiles_have_no_ninth_digit_twin() {
        // Landline: 8 digits starting 2-5.
        assert_eq!(
            strs(&whatsapp_id_variants("551132345678")),
            ["+551132345678"]
        );
        let landline = normalize_phone("+55 11 3234-5678", "").unwrap();
        assert_eq!(phone_match_keys(&landline), ["551132345678"]);
        // A mobile whose last eight digits start 2-5 never had an 8-digit form;
        // dropping its 9 would produce someone's landline.
        let newer = normalize_phone("+55 11 93234-5678", "").unwrap();
        assert_eq!(phone_match_keys(&newer), ["5511932345678"]);
    }

    #[test]
    fn mexico_521_and_52() {
        assert_eq!(
            canonical_whatsapp_phone("5215512345678").unwrap().as_str(),
            "+525512345678"
        );
        assert_eq!(
            canonical_whatsapp_phone("525512345678").unwrap().as_str(),
            "+525512345678"
        );
        assert_eq!(
            strs(&whatsapp_id_variants("5215512345678")),
            ["+525512345678", "+5215512345678"]
        );
        assert_eq!(
            strs(&whatsapp_id_variants("525512345678")),
            ["+525512345678", "+5215512345678"]
        );
        let typed = normalize_phone("55 1234 5678", "MX").unwrap();
        assert_eq!(typed.as_str(), "+525512345678");
        assert_eq!(phone_match_keys(&typed), ["525512345678", "5215512345678"]);
    }

    #[test]
    fn argentina_549_and_54() {
        assert_eq!(
            canonical_whatsapp_phone("5491112345678").unwrap().as_str(),
            "+5491112345678"
        );
        assert_eq!(
            strs(&whatsapp_id_variants("5491112345678")),
            ["+5491112345678", "+541112345678"]
        );
        // Twelve digits is how landlines are written, so it is kept.
        assert_eq!(
            canonical_whatsapp_phone("541112345678").unwrap().as_str(),
            "+541112345678"
        );
        assert_eq!(
            strs(&whatsapp_id_variants("541112345678")),
            ["+541112345678", "+5491112345678"]
        );
        let typed_mobile = normalize_phone("011 15 1234-5678", "AR").unwrap();
        assert_eq!(typed_mobile.as_str(), "+5491112345678");
        let typed_plain = normalize_phone("+54 11 1234-5678", "").unwrap();
        let wa = canonical_whatsapp_phone("5491112345678").unwrap();
        let shares = |a: &PhoneE164, b: &PhoneE164| {
            let kb = phone_match_keys(b);
            phone_match_keys(a).iter().any(|k| kb.contains(k))
        };
        assert!(shares(&typed_mobile, &wa));
        assert!(shares(&typed_plain, &wa));
    }

    #[test]
    fn other_countries_have_a_single_form() {
        assert_eq!(
            strs(&whatsapp_id_variants("905321234567")),
            ["+905321234567"]
        );
        assert_eq!(
            strs(&whatsapp_id_variants("+447911123456")),
            ["+447911123456"]
        );
        let p = canonical_whatsapp_phone("905321234567").unwrap();
        assert_eq!(phone_match_keys(&p), ["905321234567"]);
    }

    #[test]
    fn garbage_whatsapp_ids() {
        for wa in [
            "",
            " ",
            "abc",
            "0905321234567",
            "12345",
            "9053212345678901234",
            "90532 1234567",
            "9999999999",
            "+",
            "AbCdEf-bsuid.123",
        ] {
            assert_eq!(whatsapp_id_variants(wa), Vec::<PhoneE164>::new(), "{wa:?}");
            assert_eq!(canonical_whatsapp_phone(wa), None, "{wa:?}");
        }
    }

    #[test]
    fn mask_phone_examples() {
        assert_eq!(mask_phone("+905321234567"), "+90532*****67");
        assert_eq!(mask_phone("+90 (532) 123-45-67"), "+90532*****67");
        assert_eq!(mask_phone("+5511987654321"), "+55119******21");
        assert_eq!(mask_phone("+14155550123"), "+1415*****23");
        assert_eq!(mask_phone("0532 123 45 67"), "053******67");
        assert_eq!(mask_phone("1234567"), "12***67");
        for bad in [
            "",
            "123456",
            "+90 53",
            "abc",
            "deniz@example.com",
            "0532 ABC",
        ] {
            assert_eq!(mask_phone(bad), "***", "{bad:?}");
        }
        for raw in ["+905321234567", "05321234567", "1234567", "+5491112345678"] {
            let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
            let masked = mask_phone(raw);
            let shown: String = masked.chars().filter(char::is_ascii_digit).collect();
            assert!(!shown.contains(&digits), "{raw} -> {masked}");
            assert!(shown.len() < digits.len(), "{raw} -> {masked}");
        }
    }
}
