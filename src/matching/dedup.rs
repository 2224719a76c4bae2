//! The vendor stream without the copies of repeated ids that extract listed
//! to leave out: both are in key order, so one pass over the two drops them.

use super::Cursor;
use crate::record::Record;
use crate::sort::merge::Merger;
use crate::sort::SortError;

/// Vendor records in key order, less the listed ones.
pub struct WithoutDrops {
    records: Merger,
    drops: Merger,
}

impl WithoutDrops {
    /// Streams `records`, leaving out every record whose sort key `drops`
    /// lists (once per listing).
    pub fn new(records: Merger, drops: Merger) -> Result<WithoutDrops, SortError> {
        let mut stream = WithoutDrops { records, drops };
        stream.skip_dropped()?;
        Ok(stream)
    }

    /// Moves past listed records at the head of the stream.
    fn skip_dropped(&mut self) -> Result<(), SortError> {
        loop {
            let (Some(record), Some(dropped)) = (self.records.peek(), self.drops.peek()) else {
                return Ok(());
            };
            match dropped.sort.cmp(record.sort) {
                std::cmp::Ordering::Greater => return Ok(()),
                std::cmp::Ordering::Equal => {
                    self.records.advance()?;
                    self.drops.advance()?;
                }
                // Listed records come from the same pages as the records.
                std::cmp::Ordering::Less => {
                    return Err(SortError::Corrupt {
                        path: Default::default(),
                        reason: "a vendor record listed to be left out is missing from the vendor runs".into(),
                    })
                }
            }
        }
    }
}

impl Cursor for WithoutDrops {
    fn peek(&self) -> Option<Record<'_>> {
        self.records.peek()
    }

    fn advance(&mut self) -> Result<(), SortError> {
        self.records.advance()?;
        self.skip_dropped()
    }
}
