//! An error and its causes on one line, for places that keep or send one
//! line: the manifest's record of a failed stage, a retried request.

/// `error: cause: cause`, leaving out a cause whose text the line holds already.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
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
}
