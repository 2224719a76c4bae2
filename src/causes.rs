//! An error's chain of causes as text, each cause once: for the one
//! `error:` line and its `caused by:` lines, and for places that keep one
//! line (the manifest's record of a failed stage, a retried request); and
//! [`printable`], the one home of what a message may hold on a terminal.

/// The texts of `error` and its causes, [`printable`], leaving out an
/// empty cause and one whose text the text before it holds already (a
/// wrapper that repeats its cause).
pub fn distinct(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = printable(&cause.to_string());
        if !text.is_empty() && !texts.last().is_some_and(|previous| previous.contains(&text)) {
            texts.push(text);
        }
        next = cause.source();
    }
    texts
}

/// `error: cause: cause` on one line.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    distinct(error).join(": ")
}

/// `text` as one line that is safe to print: a newline becomes a space, and
/// every other control character (C0, DEL, C1) and every bidirectional
/// override is written as an escape (`\u{1b}`, `\t`), so that a name or a
/// server message holding a terminal escape sequence is shown, not obeyed.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The characters that reorder text as it is displayed (U+202A..U+202E, U+2066..U+2069).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_the_error_once_each() {
        assert_eq!(one_line(&Outer(std::io::Error::other("disk full"))), "outer: disk full");
        assert_eq!(one_line(&Outer(std::io::Error::other("outer"))), "outer");
    }

    #[test]
    fn control_characters_are_escaped_never_printed() {
        let text = printable("relation \"\x1b[31mred\" \u{9b}2J\ttab\rcr\u{7f} \u{202e}gnp.exe é");
        assert_eq!(text, "relation \"\\u{1b}[31mred\" \\u{9b}2J\\ttab\\rcr\\u{7f} \\u{202e}gnp.exe é");
        assert_eq!(one_line(&Outer(std::io::Error::other("\x1b]0;title\x07"))), "outer: \\u{1b}]0;title\\u{7}");
    }

    #[test]
    fn newlines_are_folded_and_empty_causes_left_out() {
        assert_eq!(distinct(&Outer(std::io::Error::other("two\nlines"))), ["outer", "two lines"]);
        assert_eq!(distinct(&Outer(std::io::Error::other(""))), ["outer"]);
    }
}
