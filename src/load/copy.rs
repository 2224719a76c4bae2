//! Streaming a segment file of rows into an open COPY session, checking its
//! bytes against what match wrote before the COPY is ended.

use std::io::{BufRead, BufReader, Write};

use crate::budget::WRITE_BUFFER_BYTES;
use crate::damage::Damaged;
use crate::matching::segment::Segment;

/// Why a segment could not be streamed.
#[derive(Debug)]
pub enum SendError {
    /// Reading the file failed.
    Read(std::io::Error),
    /// Writing to COPY failed (the server ended it: its reason comes with finish).
    Write(std::io::Error),
    /// The file is not what match wrote: the COPY must not be ended.
    Damaged(Damaged),
    /// The run was asked to stop: the COPY must not be ended.
    Interrupted(crate::stop::Interrupted),
}

/// Streams `segment`'s file into an open `COPY ... FROM STDIN`, calling
/// `on_bytes` after every chunk sent. The file is checked as it passes; a
/// damaged one is an error before the caller ends the COPY. When the server
/// refuses the data, the rest of the file is still checked, so that damage
/// is named as the cause rather than the server's complaint about it.
pub fn send_segment(segment: &Segment, into: &mut impl Write, on_bytes: &dyn Fn(u64)) -> Result<(), SendError> {
    let file = std::fs::File::open(&segment.path).map_err(SendError::Read)?;
    let mut reader = BufReader::with_capacity(WRITE_BUFFER_BYTES, file);
    let mut check = segment.check();
    loop {
        let chunk = reader.fill_buf().map_err(SendError::Read)?;
        if chunk.is_empty() {
            break;
        }
        check.update(chunk);
        if let Err(error) = into.write_all(chunk) {
            let n = chunk.len();
            reader.consume(n);
            loop {
                let rest = reader.fill_buf().map_err(SendError::Read)?;
                if rest.is_empty() {
                    break;
                }
                check.update(rest);
                let n = rest.len();
                reader.consume(n);
            }
            check.finish().map_err(SendError::Damaged)?;
            return Err(SendError::Write(error));
        }
        let n = chunk.len();
        reader.consume(n);
        on_bytes(n as u64);
        crate::failpoint::hit("load.copying");
        crate::stop::check().map_err(SendError::Interrupted)?;
    }
    check.finish().map_err(SendError::Damaged)?;
    into.flush().map_err(SendError::Write)
}
