//! Streaming a segment file of rows into an open COPY session.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use crate::budget::WRITE_BUFFER_BYTES;

/// Streams the segment file at `path` into an open `COPY ... FROM STDIN`,
/// calling `on_bytes` after every chunk sent.
pub fn send_segment(path: &Path, into: &mut impl Write, on_bytes: &dyn Fn(u64)) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::with_capacity(WRITE_BUFFER_BYTES, file);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        into.write_all(chunk)?;
        let n = chunk.len();
        reader.consume(n);
        on_bytes(n as u64);
        crate::failpoint::hit("load.copying");
    }
    into.flush()
}
