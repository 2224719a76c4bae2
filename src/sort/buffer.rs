//! One in-memory sort buffer: encoded records appended to an arena, an index
//! of (key prefix, offset), and a sort of the index. Its memory is exactly the
//! two vectors' capacities, which never exceed its limit together.

use crate::record::{header_lengths, sort_prefix, Record, HEADER_BYTES};

/// One record's place in the arena, with the first 8 bytes of its sort key
/// (big-endian, zero-padded) so that most comparisons touch no record bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    prefix: u64,
    offset: u32,
    sort_len: u32,
}

const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Largest buffer: offsets into the arena are `u32`.
pub const MAX_BUFFER_BYTES: usize = u32::MAX as usize;

/// Records held for sorting, under a byte limit.
#[derive(Debug)]
pub struct Buffer {
    arena: Vec<u8>,
    index: Vec<Entry>,
    limit: usize,
}

impl Buffer {
    /// An empty buffer of at most `limit` bytes. Nothing is allocated until
    /// the first record; untouched capacity costs no resident memory.
    pub fn new(limit: usize) -> Buffer {
        Buffer { arena: Vec::new(), index: Vec::new(), limit: limit.min(MAX_BUFFER_BYTES) }
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes reserved: the arena's and the index's capacity.
    pub fn reserved_bytes(&self) -> usize {
        self.arena.capacity() + self.index.capacity() * ENTRY_BYTES
    }

    /// Whether a record of `encoded_len` bytes fits without passing the limit.
    pub fn fits(&self, encoded_len: usize) -> bool {
        let arena = self.arena.capacity().max(self.arena.len() + encoded_len);
        let index = self.index.capacity().max(self.index.len() + 1) * ENTRY_BYTES;
        arena + index <= self.limit
    }

    /// Appends a record. When it does not [`fits`](Buffer::fits), the buffer
    /// grows past its limit for it: callers only allow that into an empty
    /// buffer (one record larger than a whole buffer), which they seal at once.
    pub fn push(&mut self, record: Record<'_>) {
        let len = record.encoded_len();
        if self.arena.len() + len > self.arena.capacity() {
            self.grow_arena(len);
        }
        if self.index.len() == self.index.capacity() {
            self.grow_index();
        }
        let offset = u32::try_from(self.arena.len()).unwrap_or(u32::MAX);
        record.encode_into(&mut self.arena);
        let sort_len = u32::try_from(record.sort.len()).unwrap_or(u32::MAX);
        self.index.push(Entry { prefix: sort_prefix(record.sort), offset, sort_len });
    }

    /// Grows the arena by up to double, leaving the index room for as many
    /// entries as a full buffer of records of the average size so far holds.
    fn grow_arena(&mut self, incoming: usize) {
        let average = self.average_record(incoming);
        let share = self.limit / (average + ENTRY_BYTES) * average;
        let ceiling = self.limit.saturating_sub(self.index.capacity() * ENTRY_BYTES);
        let wanted = (self.arena.capacity() * 2).max(64 * 1024);
        let target = wanted.min(share).min(ceiling).max(self.arena.len() + incoming);
        self.arena.reserve_exact(target - self.arena.len());
    }

    /// Grows the index by up to double, within its share of the limit.
    fn grow_index(&mut self) {
        let share = self.limit / (self.average_record(0) + ENTRY_BYTES);
        let ceiling = self.limit.saturating_sub(self.arena.capacity()) / ENTRY_BYTES;
        let wanted = (self.index.capacity() * 2).max(1024);
        let target = wanted.min(share).min(ceiling).max(self.index.len() + 1);
        self.index.reserve_exact(target - self.index.len());
    }

    /// Average encoded record size, counting one more of `incoming` bytes
    /// (a guess of 128 bytes before the first record).
    fn average_record(&self, incoming: usize) -> usize {
        let records = self.index.len() + usize::from(incoming > 0);
        if records == 0 {
            return 128;
        }
        ((self.arena.len() + incoming) / records).max(1)
    }

    /// Sorts the records by sort key (ties keep no particular order: callers
    /// make keys unique).
    pub fn sort(&mut self) {
        let arena = &self.arena;
        let key = |e: &Entry| {
            let start = e.offset as usize + HEADER_BYTES;
            &arena[start..start + e.sort_len as usize]
        };
        self.index.sort_unstable_by(|a, b| a.prefix.cmp(&b.prefix).then_with(|| key(a).cmp(key(b))));
    }

    /// The encoded records, in index order (sorted after [`sort`](Buffer::sort)).
    pub fn encoded(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.index.iter().map(move |e| self.record_at(e.offset as usize, self.encoded_len_at(e.offset as usize)))
    }

    /// Calls `write` with each encoded record in index order, like
    /// [`encoded`](Buffer::encoded) but faster on a large buffer: in sorted
    /// order the records lie all over the arena, so each is a cache miss.
    /// Reading the lengths of a batch first lets those misses overlap.
    pub fn for_each_encoded<E>(&self, mut write: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        const BATCH: usize = 16;
        for batch in self.index.chunks(BATCH) {
            let mut lengths = [0usize; BATCH];
            for (length, entry) in lengths.iter_mut().zip(batch) {
                *length = self.encoded_len_at(entry.offset as usize);
            }
            for (entry, length) in batch.iter().zip(lengths) {
                write(self.record_at(entry.offset as usize, length))?;
            }
        }
        Ok(())
    }

    fn encoded_len_at(&self, offset: usize) -> usize {
        let (sort, payload) = header_lengths(&self.arena[offset..offset + HEADER_BYTES]).unwrap_or_default();
        HEADER_BYTES + sort + payload
    }

    fn record_at(&self, offset: usize, length: usize) -> &[u8] {
        &self.arena[offset..offset + length]
    }

    /// Empties the buffer, keeping its memory for the next fill unless a
    /// record larger than the limit made it grow past it.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.index.clear();
        if self.reserved_bytes() > self.limit {
            self.arena = Vec::new();
            self.index = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(buffer: &mut Buffer) -> Vec<Vec<u8>> {
        buffer.sort();
        buffer.encoded().map(|bytes| Record::decode(bytes).unwrap().sort.to_vec()).collect()
    }

    #[test]
    fn sorts_by_whole_key_bytes_not_just_the_prefix() {
        let mut buffer = Buffer::new(1 << 20);
        let keys: [&[u8]; 6] = [b"abcdefgh-2", b"abcdefgh-1", b"abc", b"", b"abcdefgh", b"abc\0"];
        for key in keys {
            buffer.push(Record { sort: key, payload: b"p" });
        }
        let mut expected: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        expected.sort();
        assert_eq!(sorted(&mut buffer), expected);
    }

    #[test]
    fn the_batched_walk_gives_the_same_records_as_the_iterator() {
        let mut buffer = Buffer::new(1 << 20);
        let mut rng = fastrand::Rng::with_seed(5);
        for n in 0..1000u32 {
            let sort = format!("k{}", rng.u32(..100_000)).into_bytes();
            buffer.push(Record { sort: &sort, payload: &vec![b'x'; (n % 37) as usize] });
        }
        buffer.sort();
        let mut walked = Vec::new();
        buffer
            .for_each_encoded(|bytes| -> Result<(), ()> {
                walked.push(bytes.to_vec());
                Ok(())
            })
            .unwrap();
        assert_eq!(walked, buffer.encoded().map(<[u8]>::to_vec).collect::<Vec<_>>());
    }

    #[test]
    fn never_reserves_more_than_its_limit_while_records_fit() {
        let limit = 200 * 1024;
        let mut buffer = Buffer::new(limit);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut pushed = 0;
        loop {
            let payload = vec![b'x'; rng.usize(20..300)];
            let record = Record { sort: b"some key", payload: &payload };
            if !buffer.fits(record.encoded_len()) {
                break;
            }
            buffer.push(record);
            pushed += 1;
            assert!(buffer.reserved_bytes() <= limit, "{} > {limit}", buffer.reserved_bytes());
        }
        // The limit is used, not wasted on an oversized index or arena.
        let used = buffer.arena.len() + buffer.index.len() * ENTRY_BYTES;
        assert!(used > limit * 3 / 4, "only {used} of {limit} bytes used by {pushed} records");
    }

    #[test]
    fn a_record_larger_than_the_limit_is_taken_alone_and_released_by_clear() {
        let mut buffer = Buffer::new(1024);
        let big = vec![b'x'; 10_000];
        let record = Record { sort: b"k", payload: &big };
        assert!(!buffer.fits(record.encoded_len()));
        buffer.push(record);
        assert_eq!(buffer.encoded().next().map(<[u8]>::len), Some(record.encoded_len()));
        buffer.clear();
        assert!(buffer.is_empty() && buffer.reserved_bytes() <= 1024);
    }
}
