//! The password policy: at least ten characters, at most 256 (hashing cost
//! stays bounded), not one of the well-known ones, and not the account's own
//! e-mail or name.

pub const MIN_CHARS: usize = 10;
pub const MAX_CHARS: usize = 256;

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// Why a new password is refused; the message is shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("a password needs at least {MIN_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_CHARS} characters")]
    TooLong,
    #[error("this password is on a list of common passwords; choose another")]
    Common,
    #[error("a password must not be your e-mail address or name")]
    Personal,
    #[error("a password must not be one character repeated or a simple sequence")]
    Pattern,
}

impl WeakPassword {
    /// A stable key for the UI's message catalogs.
    pub fn code(&self) -> &'static str {
        match self {
            WeakPassword::TooShort => "password-too-short",
            WeakPassword::TooLong => "password-too-long",
            WeakPassword::Common => "password-common",
            WeakPassword::Personal => "password-personal",
            WeakPassword::Pattern => "password-pattern",
        }
    }
}

/// Checks a new password; `personal` holds the e-mail, name and the like.
pub fn check(password: &str, personal: &[&str]) -> Result<(), WeakPassword> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if n > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    let folded = password.to_lowercase();
    if is_common(&folded) {
        return Err(WeakPassword::Common);
    }
    for p in personal {
        let p = p.trim().to_lowercase();
        let local = p.split('@').next().unwrap_or_default();
        if !p.is_empty() && (folded == p || (local.chars().count() >= 4 && folded.contains(local)))
        {
            return Err(WeakPassword::Personal);
        }
    }
    if is_pattern(&folded) {
        return Err(WeakPassword::Pattern);
    }
    Ok(())
}

fn is_common(folded: &str) -> bool {
    COMMON
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == folded)
}

/// One character repeated, or a run that steps by the same amount
/// ("abcdefghijk", "9876543210").
fn is_pattern(folded: &str) -> bool {
    let chars: Vec<u32> = folded.chars().map(u32::from).collect();
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(w[1]) - i64::from(w[0]))
        .collect();
    steps
        .first()
        .is_some_and(|first| first.abs() <= 1 && steps.iter().all(|s| s == first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_common_personal_and_patterned_passwords() {
        assert_eq!(check("kısa", &[]), Err(WeakPassword::TooShort));
        assert_eq!(check(&"x1".repeat(200), &[]), Err(WeakPassword::TooLong));
        assert_eq!(check("Password123", &[]), Err(WeakPassword::Common));
        assert_eq!(check("GALATASARAY", &[]), Err(WeakPassword::Common));
        assert_eq!(
            check("ayse.yilmaz2024", &["ayse.yilmaz@example.com"]),
            Err(WeakPassword::Personal)
        );
        assert_eq!(check("aaaaaaaaaaaa", &[]), Err(WeakPassword::Pattern));
        assert_eq!(check("abcdefghijkl", &[]), Err(WeakPassword::Pattern));
        assert!(check("9876543210987", &[]).is_ok());
        assert!(check("mavi kapı 7 pencere", &["ayse@example.com"]).is_ok());
        assert_eq!(WeakPassword::Common.code(), "password-common");
    }

    #[test]
    fn the_list_holds_only_passwords_the_length_rule_lets_through() {
        for l in COMMON
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(
                l.chars().count() >= MIN_CHARS,
                "{l} is shorter than the minimum"
            );
            assert_eq!(l, l.to_lowercase(), "{l} must be stored folded");
        }
    }
}
