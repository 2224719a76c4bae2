//! Why one request for a vendor page failed: the one error type the retry policy classifies.

use std::time::Duration;

/// Why one request for a page failed.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// The run was asked to stop while the request was in flight.
    #[error(transparent)]
    Interrupted(#[from] crate::stop::Interrupted),
    /// Connecting, sending or a timeout.
    #[error("request failed: {message}")]
    Transport {
        /// reqwest's description, without the URL.
        message: String,
    },
    /// The whole exchange (connect, headers and body) took longer than the
    /// request timeout: a server that stalls or trickles its body.
    #[error("no complete answer within the request timeout of {secs} s (headers and body)")]
    Deadline {
        /// The timeout.
        secs: f64,
    },
    /// A non-200 answer.
    #[error("HTTP status {status}")]
    Status {
        /// The status code.
        status: u16,
        /// The Retry-After delay, if one was sent.
        retry_after: Option<Duration>,
    },
    /// Reading the body failed (reset, timeout, short read).
    #[error("reading the body failed: {message}")]
    Body {
        /// The cause.
        message: String,
    },
    /// The body is over the cap.
    #[error("body larger than {limit_bytes} bytes")]
    BodyTooLarge {
        /// The cap.
        limit_bytes: u64,
    },
    /// The page holds more users than fit the per-page memory allowance.
    #[error("the page holds {users} users, about {bytes} bytes in memory, more than the {limit_bytes} allowed per page at this --concurrency (lower it to allow larger pages)")]
    PageTooLarge {
        /// Users on the page.
        users: usize,
        /// Estimated memory of the parsed page.
        bytes: u64,
        /// The allowance.
        limit_bytes: u64,
    },
    /// The body is not the page JSON.
    #[error("body is not a valid page: {reason}")]
    NotJson {
        /// The parser's message.
        reason: String,
    },
    /// The body is a page, but not the one asked for.
    #[error("asked for page {asked}, got page {got}")]
    WrongPage {
        /// Page requested.
        asked: u32,
        /// `current_page` in the answer.
        got: u64,
    },
    /// Users on a page past the answer's own `total_pages` (0 included): the
    /// answer contradicts itself.
    #[error("page {page} holds {users} users but its answer says there are {total_pages} pages")]
    UsersPastTotal {
        /// The page.
        page: u32,
        /// `total_pages` in the same answer.
        total_pages: u32,
        /// Users on the page.
        users: usize,
    },
    /// No users on a page before the answer's own last page: the pages after
    /// it would be empty too, so either the count or the page is wrong.
    #[error("page {page} holds no users but its answer says there are {total_pages} pages")]
    EmptyPage {
        /// The page.
        page: u32,
        /// `total_pages` in the same answer.
        total_pages: u32,
    },
    /// `total_pages` beyond `--max-pages`.
    #[error("the vendor reports {reported} pages, more than --max-pages {max}; raise --max-pages if that is real")]
    TooManyPages {
        /// `total_pages` as reported.
        reported: u32,
        /// The limit.
        max: u32,
    },
}
