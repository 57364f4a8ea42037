//! Customer search as index lookups, not scans: each customer is stored with
//! search tokens (the words of its name, its e-mail and the parts of it, its
//! phone digits forwards and backwards), and a query matches customers that
//! have, for every word of the query, a token starting with it. Both engines
//! answer that with a range scan of one B-tree index, so `?q=` stays fast at a
//! million customers, where `LIKE '%…%'` read them all.
//!
//! Text is folded before it is stored or searched: lower case, and Turkish
//! and other Latin letters with marks to their base letter, so `ayse` finds
//! `Ayşe` and `IŞIK` finds `ışık`.

/// Marks a reversed phone token: `~7654` finds numbers ending in 4567.
const REVERSED: char = '~';

/// Fewest digits a query needs to be read as a phone number.
const MIN_PHONE_DIGITS: usize = 3;

/// Words of a query beyond this are ignored: each is one more index lookup.
const MAX_TERMS: usize = 8;

/// Lower case with marks removed, for Turkish first: `İ`/`I`/`ı` → `i`.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let base = match c {
            'İ' | 'I' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'ì' | 'í' | 'î' | 'ï' => 'i',
            'Ş' | 'ş' | 'Ś' | 'ś' | 'Š' | 'š' => 's',
            'Ğ' | 'ğ' => 'g',
            'Ü' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'ù' | 'ú' | 'û' => 'u',
            'Ö' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'ò' | 'ó' | 'ô' | 'õ' | 'Ø' | 'ø' => {
                'o'
            }
            'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => 'c',
            'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => {
                'a'
            }
            'È' | 'É' | 'Ê' | 'Ë' | 'è' | 'é' | 'ê' | 'ë' => 'e',
            'Ñ' | 'ñ' => 'n',
            'Ý' | 'ý' | 'ÿ' => 'y',
            'Ž' | 'ž' | 'Ź' | 'ź' | 'Ż' | 'ż' => 'z',
            'Ł' | 'ł' => 'l',
            c => {
                out.extend(c.to_lowercase());
                continue;
            }
        };
        out.push(base);
    }
    out
}

/// The words of a text, folded: runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect::<Vec<_>>()
        .into_iter()
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fn reversed(digits: &str) -> String {
    std::iter::once(REVERSED)
        .chain(digits.chars().rev())
        .collect()
}

/// The tokens a customer is found by (`phone` in E.164), each once.
pub fn customer_tokens(
    name: Option<&str>,
    email: Option<&str>,
    phone: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(name) = name {
        out.extend(words(name));
    }
    if let Some(email) = email {
        let email = fold(email.trim());
        if !email.is_empty() {
            if let Some((_, domain)) = email.split_once('@') {
                out.push(domain.to_string());
            }
            out.extend(words(&email));
            out.push(email);
        }
    }
    if let Some(phone) = phone {
        let d = digits(phone);
        if !d.is_empty() {
            out.push(reversed(&d));
            out.push(d);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    out
}

/// What a query asks for: every inner list must have one prefix that starts
/// a token of the customer. A query that is a phone number in any spelling
/// (`0532 123 45 67`, `+90 (532) 123-45-67`, the last digits) is one term
/// whose prefixes are its digits and, reversed, its tail.
pub fn query_terms(q: &str) -> Vec<Vec<String>> {
    let q = q.trim();
    let phone_like = !q.is_empty()
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let d = digits(q);
    if phone_like && d.len() >= MIN_PHONE_DIGITS {
        // A national spelling (`0532…`) is a tail of the E.164 digits only
        // without its trunk zero.
        let tail = d.trim_start_matches('0');
        return vec![vec![
            d.clone(),
            reversed(if tail.is_empty() { &d } else { tail }),
        ]];
    }
    words(q).take(MAX_TERMS).map(|w| vec![w]).collect()
}

/// The exclusive upper bound of the tokens that start with `prefix`, in the
/// byte order both engines compare the token column in.
pub fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the store does: a customer matches when every term has a prefix
    /// starting one of its tokens.
    fn matches(tokens: &[String], q: &str) -> bool {
        let terms = query_terms(q);
        !terms.is_empty()
            && terms.iter().all(|alts| {
                alts.iter().any(|p| {
                    let end = prefix_end(p);
                    tokens
                        .iter()
                        .any(|t| t.as_str() >= p.as_str() && t.as_str() < end.as_str())
                })
            })
    }

    #[test]
    fn folding_is_turkish_aware() {
        assert_eq!(fold("Ayşe IŞIK Çağrı Öztürk"), "ayse isik cagri ozturk");
        assert_eq!(fold("İstanbul"), "istanbul");
        assert_eq!(fold("José Müller"), "jose muller");
    }

    #[test]
    fn customers_are_found_by_name_email_and_phone() {
        let t = customer_tokens(
            Some("Ayşe Yılmaz-Kaya"),
            Some("Ayse.Yilmaz@Example.com"),
            Some("+905321234567"),
        );
        for q in [
            "ayşe",
            "ayse",
            "AYŞE yıl",
            "kaya",
            "yilmaz ayse",
            "ayse.yilmaz@example.com",
            "example.com",
            "example",
            "0532 123 45 67",
            "+90 (532) 123-45-67",
            "905321234567",
            "5321234567",
            "4567",
            "45 67",
            "90532",
        ] {
            assert!(matches(&t, q), "{q:?} should find her: {t:?}");
        }
        for q in [
            "mehmet",
            "ayse mehmet",
            "7654",
            "gmail.com",
            "",
            "   ",
            "--",
        ] {
            assert!(!matches(&t, q), "{q:?} should not find her");
        }
    }

    #[test]
    fn long_queries_are_cut_to_their_first_words() {
        let q = "a b c d e f g h i j k";
        assert_eq!(query_terms(q).len(), MAX_TERMS);
    }

    #[test]
    fn phone_queries_need_three_digits() {
        assert_eq!(query_terms("53"), vec![vec!["53".to_string()]]);
        assert_eq!(query_terms("532").len(), 1);
        assert_eq!(query_terms("532")[0].len(), 2);
    }

    proptest! {
        #[test]
        fn every_word_of_a_name_finds_it(name in "[A-Za-zÇĞİÖŞÜçğıöşü]{1,8}( [A-Za-zÇĞİÖŞÜçğıöşü]{1,8}){0,3}") {
            let t = customer_tokens(Some(&name), None, None);
            for w in name.split(' ') {
                prop_assert!(matches(&t, w), "{} in {:?}", w, t);
                let prefix: String = w.chars().take(2).collect();
                prop_assert!(matches(&t, &prefix));
            }
        }

        #[test]
        fn a_number_finds_itself_by_its_tail(digits in "[1-9][0-9]{9,13}", k in 3usize..9) {
            let phone = format!("+{digits}");
            let t = customer_tokens(None, None, Some(&phone));
            prop_assert!(matches(&t, &phone));
            let tail = &digits[digits.len().saturating_sub(k)..];
            if !tail.starts_with('0') {
                prop_assert!(matches(&t, tail), "{} of {}", tail, digits);
            }
        }

        #[test]
        fn anything_goes_in_without_a_panic(s in ".{0,40}") {
            let _ = customer_tokens(Some(&s), Some(&s), Some(&s));
            let _ = query_terms(&s);
        }
    }
}
