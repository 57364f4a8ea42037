//! Languages, themes and the translator the templates call.
//!
//! The catalogs (`locales/{tr,en}/main.ftl`) are compiled into the binary; a
//! test keeps their key sets identical, because a key missing in one language
//! would otherwise fall back to the other one silently.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Bidi isolation marks around placeables would end up in attributes
        // and in copied text; our two languages are both left-to-right.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static TR_ID: LanguageIdentifier = langid!("tr");
static EN_ID: LanguageIdentifier = langid!("en");

/// A language of the staff dashboard (a closed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// Turkish, the default: the product is sold on the Turkish market.
    #[default]
    Tr,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Tr, Lang::En];

    /// The BCP 47 tag, as written in `<html lang>` and stored preferences.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Tr => "tr",
            Lang::En => "en",
        }
    }

    /// Parses a stored preference or a `?lang=` value ("tr", "en", "tr-TR", "EN").
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("tr") {
            Some(Lang::Tr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks a language from an `Accept-Language` header, respecting q-values;
    /// the first of equally weighted entries wins. Turkish when the header is
    /// absent or names neither language.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::Tr;
        };
        let mut best: Option<(Lang, f32)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if let Some(lang) = Lang::parse(tag)
                && best.is_none_or(|(_, bq)| q > bq)
            {
                best = Some((lang, q));
            }
        }
        best.map_or(Lang::Tr, |(lang, _)| lang)
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Tr => &TR_ID,
            Lang::En => &EN_ID,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The colour theme a user chose; `System` follows the operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Theme {
    Light,
    Dark,
    #[default]
    System,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::Light, Theme::Dark, Theme::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Theme> {
        match s.trim() {
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            "system" => Some(Theme::System),
            _ => None,
        }
    }

    /// The catalog key of this theme's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Theme::Light => "theme-light",
            Theme::Dark => "theme-dark",
            Theme::System => "theme-system",
        }
    }
}

impl fmt::Display for Theme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Formats a count with the language's digit grouping ("12.345" / "12,345");
/// Fluent itself does not group digits.
pub fn format_count(lang: Lang, n: i64) -> String {
    let sep = match lang {
        Lang::Tr => '.',
        Lang::En => ',',
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// The translator templates hold: `{{ tr.t("key") }}`. Cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    lang: Lang,
}

impl Tr {
    pub fn new(lang: Lang) -> Tr {
        Tr { lang }
    }

    pub fn lang(self) -> Lang {
        self.lang
    }

    /// The message `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(self.lang.id(), key)
    }

    /// The message `key` with string arguments (`{ $name }` in the catalog).
    pub fn t_args(&self, key: &str, args: &[(&str, &str)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| {
                (
                    Cow::Owned((*k).to_owned()),
                    FluentValue::from((*v).to_owned()),
                )
            })
            .collect();
        LOCALES.lookup_with_args(self.lang.id(), key, &map)
    }

    /// A counted message: the catalog selects the plural form on `$count`
    /// and prints `$n`, the count formatted for the language.
    pub fn tn(&self, key: &str, n: impl Count) -> String {
        self.tn_args(key, n, &[])
    }

    /// [`Tr::tn`] with further string arguments.
    pub fn tn_args(&self, key: &str, n: impl Count, args: &[(&str, &str)]) -> String {
        let n = n.count();
        let mut map: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| {
                (
                    Cow::Owned((*k).to_owned()),
                    FluentValue::from((*v).to_owned()),
                )
            })
            .collect();
        map.insert(Cow::Borrowed("count"), FluentValue::from(n));
        map.insert(
            Cow::Borrowed("n"),
            FluentValue::from(format_count(self.lang, n)),
        );
        LOCALES.lookup_with_args(self.lang.id(), key, &map)
    }

    /// Formats a count for this language (see [`format_count`]).
    pub fn count(&self, n: impl Count) -> String {
        format_count(self.lang, n.count())
    }

    /// A message whose key and arguments were chosen in Rust (form errors).
    pub fn msg(&self, m: &Msg) -> String {
        match &m.arg {
            None => self.t(m.key),
            Some((name, value)) => self.t_args(m.key, &[(name, value.as_str())]),
        }
    }
}

/// A number a counted message can take; templates pass fields by reference.
pub trait Count {
    fn count(&self) -> i64;
}

macro_rules! count_impl {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(&self) -> i64 {
                i64::try_from(*self).unwrap_or(i64::MAX)
            }
        }
    )*};
}

count_impl!(i64, i32, u32, u64, usize);

impl<T: Count + ?Sized> Count for &T {
    fn count(&self) -> i64 {
        (**self).count()
    }
}

/// A catalog key with at most one argument, for messages decided in Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub key: &'static str,
    pub arg: Option<(&'static str, String)>,
}

impl Msg {
    pub fn new(key: &'static str) -> Msg {
        Msg { key, arg: None }
    }

    pub fn with(key: &'static str, name: &'static str, value: impl Into<String>) -> Msg {
        Msg {
            key,
            arg: Some((name, value.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn catalog_keys(lang: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(lang);
        let mut keys = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ftl") {
                let text = std::fs::read_to_string(&path).unwrap();
                let res = fluent_syntax::parser::parse(text.as_str())
                    .unwrap_or_else(|(_, errs)| panic!("{}: {errs:?}", path.display()));
                for entry in res.body {
                    if let fluent_syntax::ast::Entry::Message(m) = entry {
                        assert!(
                            keys.insert(m.id.name.to_owned()),
                            "{lang}: duplicate key {}",
                            m.id.name
                        );
                    }
                }
            }
        }
        assert!(!keys.is_empty(), "no keys in {}", dir.display());
        keys
    }

    #[test]
    fn catalogs_have_identical_keys() {
        let tr = catalog_keys("tr");
        let en = catalog_keys("en");
        let only_tr: Vec<_> = tr.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&tr).collect();
        assert!(
            only_tr.is_empty() && only_en.is_empty(),
            "only in tr: {only_tr:?}; only in en: {only_en:?}"
        );
    }

    /// Every `tr.t("…")`, `tr.tn("…", …)`, `tr.t_args("…", …)` in the
    /// templates names a key of the catalog.
    #[test]
    fn template_keys_exist() {
        let keys = catalog_keys("tr");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut missing = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for call in ["tr.t(\"", "tr.tn(\"", "tr.t_args(\"", "tr.tn_args(\""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    seen += 1;
                    if !keys.contains(key) {
                        missing.push(format!("{}: {key}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 50, "only {seen} keys found in templates");
        assert!(missing.is_empty(), "keys missing in catalogs: {missing:?}");
    }

    /// Keys chosen in Rust (labels of modules, themes, form problems) exist.
    #[test]
    fn rust_keys_exist() {
        let keys = catalog_keys("en");
        let mut named: Vec<&str> = Theme::ALL.iter().map(|t| t.label_key()).collect();
        named.extend(crate::pages::Module::ALL.iter().map(|m| m.label_key()));
        named.extend(crate::pages::FieldError::ALL_KEYS);
        named.extend(crate::pages::ErrorKind::ALL.iter().flat_map(|k| k.keys()));
        named.extend(crate::pages::admin::rust_keys());
        for key in named {
            assert!(keys.contains(key), "missing key {key}");
        }
    }

    #[test]
    fn no_unknown_key_text_and_no_bidi_marks() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            let s = tr.t_args("search-no-results", &[("q", "Ayşe")]);
            assert!(s.contains("Ayşe"), "{s}");
            assert!(!s.contains('\u{2068}') && !s.contains('\u{2069}'), "{s:?}");
        }
        assert!(Tr::new(Lang::En).t("nope-nope").contains("Unknown"));
    }

    #[test]
    fn turkish_plural_and_grouping() {
        let tr = Tr::new(Lang::Tr);
        assert_eq!(tr.tn("search-count", 1), "1 müşteri bulundu");
        assert_eq!(tr.tn("search-count", 12345), "12.345 müşteri bulundu");
        let en = Tr::new(Lang::En);
        assert_eq!(en.tn("search-count", 1), "1 customer found");
        assert_eq!(en.tn("search-count", 12345), "12,345 customers found");
        assert_eq!(en.tn("search-count", 0), "No customers found");
        assert_eq!(tr.tn("search-count", 0), "Müşteri bulunamadı");
    }

    #[test]
    fn counts_are_grouped_per_language() {
        assert_eq!(format_count(Lang::Tr, 12345), "12.345");
        assert_eq!(format_count(Lang::En, 12345), "12,345");
        assert_eq!(format_count(Lang::En, 999), "999");
        assert_eq!(format_count(Lang::Tr, 1_000_000), "1.000.000");
        assert_eq!(format_count(Lang::En, -1234), "-1,234");
        assert_eq!(format_count(Lang::Tr, 0), "0");
    }

    #[test]
    fn negotiation_respects_q_values() {
        assert_eq!(Lang::negotiate(None), Lang::Tr);
        assert_eq!(Lang::negotiate(Some("")), Lang::Tr);
        assert_eq!(Lang::negotiate(Some("de-DE,fr;q=0.8")), Lang::Tr);
        assert_eq!(Lang::negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(Some("tr-TR,tr;q=0.9,en;q=0.8")), Lang::Tr);
        assert_eq!(
            Lang::negotiate(Some("de;q=1, en;q=0.5, tr;q=0.7")),
            Lang::Tr
        );
        assert_eq!(Lang::negotiate(Some("tr;q=0.2, en;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en;q=0, tr;q=0.1")), Lang::Tr);
        assert_eq!(Lang::negotiate(Some("tr;q=0, en;q=0")), Lang::Tr);
        assert_eq!(Lang::negotiate(Some("EN-gb")), Lang::En);
        assert_eq!(Lang::negotiate(Some("en, tr")), Lang::En);
    }

    #[test]
    fn lang_and_theme_round_trip() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.as_str()), Some(l));
        }
        for t in Theme::ALL {
            assert_eq!(Theme::parse(t.as_str()), Some(t));
        }
        assert_eq!(Lang::parse("tr-TR"), Some(Lang::Tr));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Theme::parse("blue"), None);
    }
}
