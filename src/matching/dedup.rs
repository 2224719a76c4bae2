//! The vendor stream without the copies of repeated ids that extract listed
//! to leave out: both are in key order, so one pass over the two drops them.

use std::path::{Path, PathBuf};

use super::join::Cursor;
use crate::damage::Damaged;
use crate::record::Record;
use crate::sort::merge::Merger;
use crate::sort::SortError;

/// Vendor records in key order, less the listed ones.
pub struct WithoutDrops {
    records: Merger,
    drops: Merger,
    /// Where both lists' files are (named when they disagree).
    dir: PathBuf,
}

impl WithoutDrops {
    /// Streams `records`, leaving out every record whose sort key `drops`
    /// lists (once per listing); both were written in `dir`.
    pub fn new(records: Merger, drops: Merger, dir: &Path) -> Result<WithoutDrops, SortError> {
        let mut stream = WithoutDrops { records, drops, dir: dir.to_path_buf() };
        stream.skip_dropped()?;
        Ok(stream)
    }

    /// Moves past listed records at the head of the stream.
    fn skip_dropped(&mut self) -> Result<(), SortError> {
        loop {
            let (record, dropped) = match (self.records.peek(), self.drops.peek()) {
                (Some(record), Some(dropped)) => (record, dropped),
                // Listed records left over when the records end: the same damage as below.
                (None, Some(_)) => return Err(self.disagree()),
                (_, None) => return Ok(()),
            };
            match dropped.sort.cmp(record.sort) {
                std::cmp::Ordering::Greater => return Ok(()),
                std::cmp::Ordering::Equal => {
                    self.records.advance()?;
                    self.drops.advance()?;
                }
                // Listed records come from the same pages as the records:
                // one missing means a file changed after it was written.
                std::cmp::Ordering::Less => return Err(self.disagree()),
            }
        }
    }

    fn disagree(&self) -> SortError {
        let reason = "the drop list names a record the vendor spill files lack";
        Damaged::new("extract directory", &self.dir, reason).into()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::merge::merge;
    use crate::sort::spill_file::SpillWriter;

    fn spill(dir: &std::path::Path, name: &str, sorts: &[&[u8]]) -> crate::sort::spill_file::SpillFile {
        let mut writer = SpillWriter::create(&dir.join(name), "t").unwrap();
        for sort in sorts {
            writer.append(Record { sort, payload: b"p" }).unwrap();
        }
        writer.finish().unwrap()
    }

    fn stream(dir: &std::path::Path, records: &[&[u8]], drops: &[&[u8]]) -> Result<Vec<Vec<u8>>, SortError> {
        let records = merge(vec![spill(dir, "r.spill", records)], dir, 64, "t")?;
        let drops = merge(vec![spill(dir, "d.spill", drops)], dir, 64, "t")?;
        let mut stream = WithoutDrops::new(records, drops, dir)?;
        let mut out = Vec::new();
        while let Some(record) = stream.peek() {
            out.push(record.sort.to_vec());
            stream.advance()?;
        }
        Ok(out)
    }

    #[test]
    fn listed_records_are_left_out_once_per_listing() {
        let dir = tempfile::tempdir().unwrap();
        // "b" was read twice and listed once: one copy stays.
        let kept = stream(dir.path(), &[b"a", b"b", b"b", b"c", b"d"], &[b"a", b"b", b"d"]).unwrap();
        assert_eq!(kept, [b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn a_listed_record_missing_from_the_spill_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(stream(dir.path(), &[b"a", b"c"], &[b"b"]).is_err());
    }

    #[test]
    fn a_listed_record_missing_from_the_spill_files_is_reported_as_damage_in_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let message = stream(dir.path(), &[b"a", b"c"], &[b"b"]).unwrap_err().to_string();
        assert!(message.contains("damaged") && message.contains(&dir.path().display().to_string()), "{message}");
    }
}
