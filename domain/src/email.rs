//! E-mail addresses: one comparable form, and masking for logs.

/// Trims and lowercases an e-mail address and checks that it looks like
/// `local@domain.tld`; `None` otherwise.
///
/// The whole address is lowercased, local part included: RFC 5321 lets
/// servers treat local parts case-sensitively, but none of the providers our
/// customers use do, and treating `Deniz@` and `deniz@` as two customers is
/// the costlier mistake. This is a sanity check, not RFC 5322 validation:
/// whitespace, control characters and the delimiters that betray a pasted
/// `Name <addr>` or a list (`< > , ; " ( ) [ ] \`) are rejected, as are empty
/// domain labels (`a@b..com`, `a@.com`).
pub fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    if email.chars().any(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']' | '\\'
            )
    }) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || domain.contains('@') {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    Some(email)
}

/// Masks an e-mail address for logs: first character of the local part and
/// of the domain name, plus the top-level domain — `"d***@e***.com"`.
/// Anything [`normalize_email`] rejects gives `"***"`.
pub fn mask_email(raw: &str) -> String {
    let Some(email) = normalize_email(raw) else {
        return "***".to_owned();
    };
    let Some((local, domain)) = email.split_once('@') else {
        return "***".to_owned();
    };
    let Some((name, tld)) = domain.rsplit_once('.') else {
        return "***".to_owned();
    };
    let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
    format!("{}***@{}***.{tld}", first(local), first(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Deniz.Yilmaz@Example.COM ").as_deref(),
            Some("deniz.yilmaz@example.com")
        );
        assert_eq!(
            normalize_email("a+tag@sub.example.co.uk").as_deref(),
            Some("a+tag@sub.example.co.uk")
        );
        for bad in [
            "",
            "   ",
            "deniz",
            "deniz@",
            "@example.com",
            "deniz@example",
            "deniz@@example.com",
            "de@niz@example.com",
            "deniz @example.com",
            "deniz@exa mple.com",
            "deniz@.com",
            "deniz@example.",
            "deniz@example..com",
            "Deniz <deniz@example.com>",
            "a@b.com, c@d.com",
            "deniz@example.com\n",
        ] {
            // Trailing newline is trimmed, so that one is accepted.
            if bad.trim() == "deniz@example.com" {
                assert!(normalize_email(bad).is_some());
                continue;
            }
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn mask_email_examples() {
        assert_eq!(mask_email("deniz@example.com"), "d***@e***.com");
        assert_eq!(mask_email(" Deniz@Example.COM "), "d***@e***.com");
        assert_eq!(mask_email("a@b.co.uk"), "a***@b***.uk");
        assert_eq!(mask_email("ş@ğ.tr"), "ş***@ğ***.tr");
        for bad in ["", "deniz", "deniz@example", "x y@z.com"] {
            assert_eq!(mask_email(bad), "***", "{bad:?}");
        }
        for raw in ["deniz@example.com", "a@b.co", "ab@cd.ef"] {
            assert!(!mask_email(raw).contains(raw), "{raw}");
        }
    }
}
