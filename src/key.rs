//! Match keys: which fields, how each is normalized, and how they are joined.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// A field of the match key. The declaration order is the key order (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyField {
    /// Last name.
    Lastname,
    /// First name.
    Firstname,
    /// Medical specialty.
    Specialty,
    /// Practice location (vendor `practice_location`, ours `user_practice.location`).
    Location,
}

impl KeyField {
    /// All fields in key order.
    pub const ALL: [KeyField; 4] = [KeyField::Lastname, KeyField::Firstname, KeyField::Specialty, KeyField::Location];

    /// The field's name as used by `--match-on`.
    pub fn name(self) -> &'static str {
        match self {
            KeyField::Lastname => "lastname",
            KeyField::Firstname => "firstname",
            KeyField::Specialty => "specialty",
            KeyField::Location => "location",
        }
    }

    /// The field named `name`, if any.
    pub fn from_name(name: &str) -> Option<KeyField> {
        KeyField::ALL.into_iter().find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// `lastname,firstname` style list.
    pub fn list(fields: &[KeyField]) -> String {
        fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(",")
    }
}

/// Separates the fields of an encoded key; escaped with `\` inside a field.
const SEPARATOR: char = '|';
const ESCAPE: char = '\\';

/// Normalizes one key field (SPEC §4): Unicode NFKC, lowercase, `_` becomes a
/// space, runs of whitespace collapse to one space, then trim.
pub fn normalize(raw: &str) -> String {
    // Lowercase the whole string, not char by char: a final sigma depends on context.
    collapse_spaces(&raw.nfkc().collect::<String>().to_lowercase())
}

/// `_` read as a space, runs of whitespace collapsed to one space, trimmed:
/// the spacing rule of keys and of display values ([`crate::clean`]).
pub fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c == '_' || c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Appends the match key of a record, built from its raw field values in
/// `fields` order, to `out` and returns `true`; returns `false`, with `out`
/// as it was, when a field is missing or empty after normalization: such a
/// record is `unmatchable`. Allocates nothing for ASCII values, the common case.
///
/// The key is readable (`angelovich|fern|neurology|bon air`) and injective:
/// `|` and `\` inside a value are escaped, so different value tuples never
/// give the same key.
pub fn push_match_key<'a>(out: &mut Vec<u8>, fields: &[KeyField], value: impl Fn(KeyField) -> Option<&'a str>) -> bool {
    let start = out.len();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR as u8);
        }
        let field_start = out.len();
        let pushed = match value(*field) {
            Some(raw) => push_normalized(out, raw),
            None => false,
        };
        if !pushed || out.len() == field_start {
            out.truncate(start);
            return false;
        }
    }
    true
}

/// Appends the normalized, escaped form of one field value; `false` when the
/// value is blank. ASCII goes through [`ASCII_FOLD`] (NFKC leaves ASCII
/// unchanged, and lowercasing it is per byte); anything else goes through
/// [`normalize`].
fn push_normalized(out: &mut Vec<u8>, raw: &str) -> bool {
    if !raw.is_ascii() {
        let normalized = normalize(raw);
        for c in normalized.chars() {
            if c == SEPARATOR || c == ESCAPE {
                out.push(ESCAPE as u8);
            }
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        return !normalized.is_empty();
    }
    let start = out.len();
    let mut pending_space = false;
    for &byte in raw.as_bytes() {
        let folded = ASCII_FOLD[usize::from(byte & 0x7f)];
        if folded == WHITESPACE {
            pending_space = out.len() > start;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        if folded == SEPARATOR as u8 || folded == ESCAPE as u8 {
            out.push(ESCAPE as u8);
        }
        out.push(folded);
    }
    out.len() > start
}

/// Marks whitespace in [`ASCII_FOLD`] (no ASCII byte folds to it).
const WHITESPACE: u8 = 0xff;

/// What each ASCII byte becomes in a key: lowercase, `_` read as a space,
/// and the ASCII members of `char::is_whitespace` (which [`normalize`]
/// collapses) marked [`WHITESPACE`].
const ASCII_FOLD: [u8; 128] = {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = match byte as u8 {
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | b'_' => WHITESPACE,
            b => b.to_ascii_lowercase(),
        };
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key [`push_match_key`] builds, as a string; `None` when unmatchable.
    fn match_key<'a>(fields: &[KeyField], value: impl Fn(KeyField) -> Option<&'a str>) -> Option<String> {
        let mut key = Vec::new();
        push_match_key(&mut key, fields, value).then(|| String::from_utf8(key).ok())?
    }

    #[test]
    fn normalize_lowercases_and_trims() {
        assert_eq!(normalize("  Fern  "), "fern");
        assert_eq!(normalize("ANGELOVICH"), "angelovich");
    }

    #[test]
    fn normalize_turns_underscores_into_spaces() {
        assert_eq!(normalize("bon_air"), "bon air");
        assert_eq!(normalize("__bon__air__"), "bon air");
    }

    #[test]
    fn normalize_collapses_any_whitespace() {
        assert_eq!(normalize("Mary\tAnn"), "mary ann");
        assert_eq!(normalize("Mary \n\r Ann"), "mary ann");
        assert_eq!(normalize("Mary\u{3000}Ann"), "mary ann");
    }

    #[test]
    fn normalize_applies_nfkc_before_lowercase() {
        assert_eq!(normalize("ﬁona"), "fiona");
        assert_eq!(normalize("ＦＥＲＮ"), "fern");
        assert_eq!(normalize("Mu\u{308}ller"), "müller");
    }

    #[test]
    fn normalize_lowercases_a_final_sigma_like_the_word_does() {
        assert_eq!(normalize("ΠΑΠΑΣ"), normalize("Παπας"));
    }

    #[test]
    fn normalize_of_blank_is_empty() {
        assert_eq!(normalize(" _ \t"), "");
    }

    fn record<'a>(values: [Option<&'a str>; 4]) -> impl Fn(KeyField) -> Option<&'a str> {
        move |f| values[f as usize]
    }

    #[test]
    fn key_follows_field_order() {
        let key =
            match_key(&KeyField::ALL, record([Some("Angelovich"), Some("Fern"), Some("Neurology"), Some("bon_air")]));
        assert_eq!(key.as_deref(), Some("angelovich|fern|neurology|bon air"));
    }

    #[test]
    fn key_of_a_subset_uses_only_those_fields() {
        let key = match_key(&[KeyField::Lastname, KeyField::Location], record([Some("A"), None, None, Some("x_y")]));
        assert_eq!(key.as_deref(), Some("a|x y"));
    }

    #[test]
    fn missing_or_blank_field_makes_no_key() {
        assert_eq!(match_key(&KeyField::ALL, record([Some("a"), None, Some("c"), Some("d")])), None);
        assert_eq!(match_key(&KeyField::ALL, record([Some("a"), Some(" _ "), Some("c"), Some("d")])), None);
    }

    #[test]
    fn an_unmatchable_record_leaves_the_buffer_as_it_was() {
        let mut out = b"before".to_vec();
        assert!(!push_match_key(&mut out, &KeyField::ALL, record([Some("A"), Some("B"), Some(" _\t"), Some("D")])));
        assert_eq!(out, b"before");
        assert!(push_match_key(&mut out, &KeyField::ALL[..1], record([Some("Ｍüller|X"), None, None, None])));
        assert_eq!(out, "beforemüller\\|x".as_bytes());
    }

    #[test]
    fn separator_inside_a_value_is_escaped() {
        let a = match_key(&KeyField::ALL[..2], record([Some("a|b"), Some("c"), None, None]));
        let b = match_key(&KeyField::ALL[..2], record([Some("a"), Some("b|c"), None, None]));
        assert_ne!(a, b);
        assert_eq!(a.as_deref(), Some("a\\|b|c"));
    }

    proptest! {
        #[test]
        fn the_ascii_fast_path_equals_the_general_normalization(s in "[ -~\t\n\x0b\x0c\r]{0,24}") {
            let mut fast = Vec::new();
            let nonblank = push_normalized(&mut fast, &s);
            let general = normalize(&s).replace('\\', "\\\\").replace('|', "\\|");
            prop_assert_eq!(String::from_utf8(fast).unwrap(), general.clone());
            prop_assert_eq!(nonblank, !general.is_empty());
        }

        #[test]
        fn normalize_is_idempotent(s in "\\PC{0,20}") {
            let once = normalize(&s);
            prop_assert_eq!(normalize(&once), once.clone());
        }

        #[test]
        fn key_is_injective_over_normalized_tuples(
            a in proptest::collection::vec("[a-c|\\\\ ]{1,3}", 2),
            b in proptest::collection::vec("[a-c|\\\\ ]{1,3}", 2),
        ) {
            let fields = &KeyField::ALL[..2];
            let ka = match_key(fields, |f| Some(a[f as usize].as_str()));
            let kb = match_key(fields, |f| Some(b[f as usize].as_str()));
            let na: Vec<String> = a.iter().map(|s| normalize(s)).collect();
            let nb: Vec<String> = b.iter().map(|s| normalize(s)).collect();
            if ka.is_some() && kb.is_some() {
                prop_assert_eq!(ka == kb, na == nb);
            }
        }
    }
}
