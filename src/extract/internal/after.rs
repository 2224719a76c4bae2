//! Where a stream of our users starts, whichever the source.

/// Where a stream starts: after the last row already read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct After {
    /// The highest id read, if any.
    pub id: Option<i64>,
    /// The highest id read beyond `i64` (MySQL's `BIGINT UNSIGNED`; such rows are rejects).
    pub unsigned_id: Option<u64>,
}
