//! Display values: the name, specialty and location a warehouse row shows,
//! cleaned so that analysts can group by them (the raw values are kept in
//! their own columns).
//!
//! The cleaning is the match key's normalization ([`crate::key::normalize`])
//! without its lowercasing: Unicode NFKC, `_` read as a space, runs of
//! whitespace collapsed to one space, trimmed. Names keep their case (a
//! person's `McDonald` is not ours to change); specialties and locations are
//! put in title case, so `NEUROLOGY`, `neurology` and `Ｎｅｕｒｏｌｏｇｙ`
//! are one group, `Neurology`.

use unicode_normalization::UnicodeNormalization;

use crate::key::collapse_spaces;

/// What cleaning does to letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Kept as written: names.
    Kept,
    /// Each word's first letter upper case, the rest lower: specialties and locations.
    Title,
}

/// The cleaned value of `raw`, or `None` when nothing but whitespace is left.
pub fn clean(raw: &str, case: Case) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    // Cleaning valid UTF-8 gives valid UTF-8.
    push_clean(&mut out, raw.as_bytes(), case).ok()?.then(|| String::from_utf8(out).ok()).flatten()
}

/// Appends the cleaned value of the text `raw` to `out` and returns
/// `Ok(true)`; `Ok(false)`, with `out` as it was, when the value is blank;
/// an error when `raw` is not UTF-8. ASCII values, the common case, are
/// cleaned a word at a time without allocating.
pub fn push_clean(out: &mut Vec<u8>, raw: &[u8], case: Case) -> Result<bool, std::str::Utf8Error> {
    let start = out.len();
    if raw.is_ascii() {
        push_ascii(out, raw, case);
    } else {
        push_unicode(out, std::str::from_utf8(raw)?, case);
    }
    Ok(out.len() > start)
}

/// The ASCII members of `char::is_whitespace`, and `_`.
fn is_space(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | b'_')
}

fn push_ascii(out: &mut Vec<u8>, raw: &[u8], case: Case) {
    let start = out.len();
    out.reserve(raw.len());
    for word in raw.split(|b| is_space(*b)).filter(|word| !word.is_empty()) {
        if out.len() > start {
            out.push(b' ');
        }
        match case {
            Case::Kept => out.extend_from_slice(word),
            Case::Title => {
                let mut word_start = true;
                for &byte in word {
                    out.push(if word_start { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() });
                    word_start = starts_word_after(char::from(byte));
                }
            }
        }
    }
}

fn push_unicode(out: &mut Vec<u8>, raw: &str, case: Case) {
    let mut cleaned = collapse_spaces(&raw.nfkc().collect::<String>());
    if case == Case::Title {
        // Lowercase the whole value, not char by char: a final sigma depends on context.
        let lowered = cleaned.to_lowercase();
        cleaned.clear();
        let mut word_start = true;
        for c in lowered.chars() {
            let mut upper = c.to_uppercase();
            if let (true, Some(u), None) = (word_start, upper.next(), upper.next()) {
                // One letter for one: `ß` stays `ß` rather than become `SS`.
                cleaned.push(u);
            } else {
                cleaned.push(c);
            }
            word_start = c == ' ' || starts_word_after(c);
        }
    }
    out.extend_from_slice(cleaned.as_bytes());
}

/// Title case starts a new word after these as after a space: `Winston-Salem`, `Ob/Gyn`.
fn starts_word_after(c: char) -> bool {
    matches!(c, '-' | '/' | '(')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn specialties_of_any_surface_are_one_group() {
        for raw in ["NEUROLOGY", "neurology", " Neurology\r\n", "Ｎｅｕｒｏｌｏｇｙ", "\tneuROlogy "] {
            assert_eq!(clean(raw, Case::Title).as_deref(), Some("Neurology"), "{raw:?}");
        }
    }

    #[test]
    fn locations_get_title_case_word_by_word() {
        assert_eq!(clean("generic_clinic  17", Case::Title).as_deref(), Some("Generic Clinic 17"));
        assert_eq!(clean("WINSTON-SALEM", Case::Title).as_deref(), Some("Winston-Salem"));
        assert_eq!(clean("ØDEGAARD bay", Case::Title).as_deref(), Some("Ødegaard Bay"));
    }

    #[test]
    fn names_keep_their_case_and_lose_stray_whitespace() {
        assert_eq!(clean("  McDonald ", Case::Kept).as_deref(), Some("McDonald"));
        assert_eq!(clean("Mary\t\nAnn", Case::Kept).as_deref(), Some("Mary Ann"));
        assert_eq!(clean("ﬁona", Case::Kept).as_deref(), Some("fiona"));
        assert_eq!(clean("Mu\u{308}ller", Case::Kept).as_deref(), Some("Müller"));
    }

    #[test]
    fn blank_values_clean_to_nothing() {
        for raw in ["", "  ", " \t ", "__", "\u{3000}"] {
            assert_eq!(clean(raw, Case::Title), None, "{raw:?}");
            assert_eq!(clean(raw, Case::Kept), None, "{raw:?}");
        }
    }

    proptest! {
        /// The cleaned value is the match key's normalization with the case
        /// put back: both rules stay one rule.
        #[test]
        fn lowercased_it_is_the_key_normalization(raw in "[ a-zA-Z_\t\r\n\u{00c0}-\u{00ff}\u{ff21}-\u{ff3a}\u{3000}\u{fb01}-]{0,16}") {
            for case in [Case::Kept, Case::Title] {
                let cleaned = clean(&raw, case).unwrap_or_default();
                prop_assert_eq!(cleaned.to_lowercase(), crate::key::normalize(&raw));
            }
        }

        #[test]
        fn cleaning_twice_changes_nothing(raw in "[ a-zA-Z_\t\u{00c0}-\u{00ff}\u{ff21}-\u{ff3a}-]{0,16}") {
            for case in [Case::Kept, Case::Title] {
                let once = clean(&raw, case);
                prop_assert_eq!(once.as_deref().and_then(|c| clean(c, case)), once);
            }
        }
    }
}
