//! An error's chain of causes as text, each cause once: for the one
//! `error:` line and its `caused by:` lines, and for places that keep one
//! line (the manifest's record of a failed stage, a retried request).

/// The texts of `error` and its causes, newlines folded, leaving out an
/// empty cause and one whose text the text before it holds already (a
/// wrapper that repeats its cause).
pub fn distinct(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(cause) = next {
        let text = cause.to_string().replace('\n', " ");
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
    fn newlines_are_folded_and_empty_causes_left_out() {
        assert_eq!(distinct(&Outer(std::io::Error::other("two\nlines"))), ["outer", "two lines"]);
        assert_eq!(distinct(&Outer(std::io::Error::other(""))), ["outer"]);
    }
}
