//! The records that flow through the pipeline, as bytes: a sort key and a
//! payload of binary COPY fields.
//!
//! An encoded record is `[sort length: u32 LE][payload length: u32 LE][sort
//! key][payload]`. Sorting compares sort keys as bytes, so every order the
//! pipeline needs is built into the key:
//!
//! - by match key: a 64-bit hash of the normalized key, the key, a `0x00`
//!   byte, then the id ([`push_id`]), giving (hash, key, id) order. Records
//!   of one key stay together, which is all the merge join needs; the hash in
//!   front settles almost every comparison in its first 8 bytes, where names
//!   sharing a long prefix would need a byte-by-byte compare. An unmatchable
//!   record has the empty key and hash 0, and sorts first. Vendor records add
//!   their page and position ([`vendor_key`]), so copies of one id stay apart;
//! - vendor id entries, to find the copies of an id: id, page and position,
//!   so the last of equal ids comes from the latest page.
//!
//! Payloads hold the user's fields already in the warehouse's binary COPY
//! form ([`field`]), in the orders of [`internal`] and [`vendor`].

pub mod field;

/// Bytes of an encoded record's header.
pub const HEADER_BYTES: usize = 8;

/// One record, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// What it is sorted by.
    pub sort: &'a [u8],
    /// Its fields.
    pub payload: &'a [u8],
}

impl<'a> Record<'a> {
    /// Bytes of the encoded record.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES + self.sort.len() + self.payload.len()
    }

    /// Appends the encoded record to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&len_u32(self.sort.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(self.payload.len()).to_le_bytes());
        out.extend_from_slice(self.sort);
        out.extend_from_slice(self.payload);
    }

    /// Reads an encoded record that fills `bytes` exactly.
    pub fn decode(bytes: &'a [u8]) -> Option<Record<'a>> {
        let (sort_len, payload_len) = header_lengths(bytes.get(..HEADER_BYTES)?)?;
        let sort_end = HEADER_BYTES.checked_add(sort_len)?;
        if sort_end.checked_add(payload_len)? != bytes.len() {
            return None;
        }
        Some(Record { sort: &bytes[HEADER_BYTES..sort_end], payload: &bytes[sort_end..] })
    }
}

/// The two lengths of an encoded record's header.
pub fn header_lengths(header: &[u8]) -> Option<(usize, usize)> {
    let sort = u32::from_le_bytes(header.get(0..4)?.try_into().ok()?);
    let payload = u32::from_le_bytes(header.get(4..8)?.try_into().ok()?);
    Some((sort as usize, payload as usize))
}

/// Record parts are bounded far below 4 GiB (page cap, PostgreSQL's 1 GiB
/// text limit), so the length always fits.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Scratch space for building one record without allocating per record.
#[derive(Debug, Default, Clone)]
pub struct RecordBuf {
    /// The sort key being built.
    pub sort: Vec<u8>,
    /// The payload being built.
    pub payload: Vec<u8>,
}

impl RecordBuf {
    /// Empties both parts for the next record.
    pub fn clear(&mut self) {
        self.sort.clear();
        self.payload.clear();
    }

    /// The record built so far.
    pub fn record(&self) -> Record<'_> {
        Record { sort: &self.sort, payload: &self.payload }
    }
}

/// The first 8 bytes of a sort key as a big-endian number, zero-padded:
/// prefixes order like their keys as far as 8 bytes go, which settles almost
/// every comparison (a key sort key starts with the key's hash).
#[inline]
pub fn sort_prefix(sort: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = sort.len().min(8);
    bytes[..n].copy_from_slice(&sort[..n]);
    u64::from_be_bytes(bytes)
}

/// Appends `id` so that byte order is numeric order (sign bit flipped, big-endian).
pub fn push_id(out: &mut Vec<u8>, id: i64) {
    out.extend_from_slice(&((id as u64) ^ (1 << 63)).to_be_bytes());
}

/// The id [`push_id`] wrote as the first 8 bytes of `bytes`.
pub fn read_id(bytes: &[u8]) -> Option<i64> {
    let bits = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((bits ^ (1 << 63)) as i64)
}

/// The id at the end of a key sort key (our records: [`finish_key_sort`]).
pub fn id_of_key_sort(sort: &[u8]) -> Option<i64> {
    read_id(sort.get(sort.len().checked_sub(8)?..)?)
}

/// Bytes of the key's hash at the front of a key sort key.
const HASH_BYTES: usize = 8;

/// Starts a key sort key in the empty `out`: room for the key's hash. The
/// match key is then appended, and [`finish_key_sort`] completes it.
pub fn start_key_sort(out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[0; HASH_BYTES]);
}

/// Finishes a key sort key begun with [`start_key_sort`], `out` now holding
/// the match key (possibly empty) after the room: writes the key's hash
/// there and adds the separator and the id.
pub fn finish_key_sort(out: &mut Vec<u8>, id: i64) {
    let hash = key_hash(&out[HASH_BYTES..]);
    out[..HASH_BYTES].copy_from_slice(&hash.to_be_bytes());
    out.push(0);
    push_id(out, id);
}

/// XXH3 of the key: a fixed, specified algorithm, so spill files written by one
/// process sort like those of another. 0 is kept for the empty key
/// (unmatchable records first).
fn key_hash(key: &[u8]) -> u64 {
    if key.is_empty() {
        return 0;
    }
    xxhash_rust::xxh3::xxh3_64(key).max(1)
}

/// The match key inside a key sort key ("" for an unmatchable record): the
/// bytes between the hash and the separator (keys hold no `0x00`).
pub fn match_key_of(sort: &[u8]) -> &[u8] {
    &group_of(sort)[HASH_BYTES.min(sort.len())..]
}

/// The hash and the match key: what records of one key share, and what
/// orders the groups of records in a key-sorted stream.
pub fn group_of(sort: &[u8]) -> &[u8] {
    let key = sort.get(HASH_BYTES..).unwrap_or_default();
    let end = key.iter().position(|b| *b == 0).unwrap_or(key.len());
    &sort[..(HASH_BYTES + end).min(sort.len())]
}

/// The group of unmatchable records (empty key, hash 0).
pub const UNMATCHABLE_GROUP: &[u8] = &[0; HASH_BYTES];

/// Payload layout of one of our users: binary COPY fields in this order.
pub mod internal {
    /// `"user".id` (`bigint`).
    pub const ID: usize = 0;
    /// First name.
    pub const FIRSTNAME: usize = 1;
    /// Last name.
    pub const LASTNAME: usize = 2;
    /// Specialty.
    pub const SPECIALTY: usize = 3;
    /// `user_practice.location`.
    pub const LOCATION: usize = 4;
    /// `classification`.
    pub const CLASSIFICATION: usize = 5;
    /// `platform_registered_on`.
    pub const PLATFORM: usize = 6;
    /// `last_active_date` (`date`).
    pub const LAST_ACTIVE: usize = 7;
    /// Number of fields.
    pub const FIELDS: usize = 8;
    /// The fields' names, in payload order (`vendor-match inspect` shows them).
    pub const NAMES: [&str; FIELDS] = [
        "id",
        "firstname",
        "lastname",
        "specialty",
        "location",
        "classification",
        "platform_registered_on",
        "last_active_date",
    ];
}

/// Payload layout of one vendor user: binary COPY fields in this order.
pub mod vendor {
    /// Vendor `id` (`bigint`).
    pub const ID: usize = 0;
    /// First name.
    pub const FIRSTNAME: usize = 1;
    /// Last name.
    pub const LASTNAME: usize = 2;
    /// Specialty.
    pub const SPECIALTY: usize = 3;
    /// `practice_location` as shown in the warehouse: `_` read as a space.
    pub const LOCATION: usize = 4;
    /// `user_type_classification`.
    pub const CLASSIFICATION: usize = 5;
    /// `last_active_date` (`date`).
    pub const LAST_ACTIVE: usize = 6;
    /// Number of fields.
    pub const FIELDS: usize = 7;
    /// The fields' names, in payload order (`vendor-match inspect` shows them).
    pub const NAMES: [&str; FIELDS] = [
        "id",
        "firstname",
        "lastname",
        "specialty",
        "practice_location",
        "user_type_classification",
        "last_active_date",
    ];
}

/// Vendor sort keys, and the id entries that find the copies of an id.
///
/// A vendor record's key sort key is the match key, `0x00`, then (id, page,
/// position). Its id entry is sorted by that last part and carries the whole
/// key sort key, so the copies of an id that must go can be listed in the
/// records' own order (SPEC §2: the later page wins).
pub mod vendor_key {
    use super::Record;

    /// Bytes of (id, page, position) at the end of a vendor key sort key.
    pub const ID_PAGE_POSITION: usize = 16;

    /// Finishes a vendor key sort key: `out` holds the match key.
    pub fn finish(out: &mut Vec<u8>, id: i64, page: u32, position: u32) {
        super::finish_key_sort(out, id);
        out.extend_from_slice(&page.to_be_bytes());
        out.extend_from_slice(&position.to_be_bytes());
    }

    /// The id entry of a vendor record with key sort key `sort`.
    pub fn id_entry(sort: &[u8]) -> Record<'_> {
        Record { sort: &sort[sort.len().saturating_sub(ID_PAGE_POSITION)..], payload: sort }
    }

    /// The id part of an id entry's sort key: copies of an id share it.
    pub fn id_bytes(entry_sort: &[u8]) -> &[u8] {
        &entry_sort[..entry_sort.len().min(8)]
    }

    /// The (id, page, position) at the end of a vendor key sort key, or
    /// filling an id entry's sort key: what [`finish`] appended.
    pub fn id_page_position(sort: &[u8]) -> Option<(i64, u32, u32)> {
        let tail = sort.get(sort.len().checked_sub(ID_PAGE_POSITION)?..)?;
        let page = u32::from_be_bytes(tail[8..12].try_into().ok()?);
        let position = u32::from_be_bytes(tail[12..16].try_into().ok()?);
        Some((super::read_id(tail)?, page, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_wrong_length_is_refused() {
        let record = Record { sort: b"key\0", payload: b"fields" };
        let mut bytes = Vec::new();
        record.encode_into(&mut bytes);
        assert_eq!(bytes.len(), record.encoded_len());
        assert_eq!(Record::decode(&bytes), Some(record));
        assert_eq!(Record::decode(&bytes[..bytes.len() - 1]), None);
        bytes.push(0);
        assert_eq!(Record::decode(&bytes), None);
    }

    fn key_sort(key: &str, id: i64) -> Vec<u8> {
        let mut out = Vec::new();
        start_key_sort(&mut out);
        out.extend_from_slice(key.as_bytes());
        finish_key_sort(&mut out, id);
        out
    }

    #[test]
    fn key_sort_keys_keep_a_key_together_by_id_with_unmatchable_first() {
        let mut keys = [
            key_sort("ab", 1),
            key_sort("a", 5),
            key_sort("", 9),
            key_sort("a", -3),
            key_sort("a b", 0),
            key_sort("", -1),
            key_sort("a", i64::MAX),
            key_sort("ab", -2),
        ];
        keys.sort();
        let order: Vec<&[u8]> = keys.iter().map(|k| match_key_of(k)).collect();
        assert_eq!(&order[..2], [b"", b""], "unmatchable first");
        // Each key's records are contiguous, by id.
        let mut seen: Vec<&[u8]> = Vec::new();
        for (i, key) in order.iter().enumerate() {
            if i == 0 || order[i - 1] != *key {
                assert!(!seen.contains(key), "{key:?} split");
                seen.push(key);
            }
        }
        let ids_of_a: Vec<&Vec<u8>> = keys.iter().filter(|k| match_key_of(k) == b"a").collect();
        assert!(ids_of_a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(match_key_of(&key_sort("a|b\\c", 3)), b"a|b\\c");
    }

    #[test]
    fn ids_pages_and_positions_read_back_from_sort_keys() {
        for id in [i64::MIN, -3, 0, 7, i64::MAX] {
            assert_eq!(id_of_key_sort(&key_sort("a|b", id)), Some(id));
            let mut sort = Vec::new();
            start_key_sort(&mut sort);
            sort.extend_from_slice(b"a|b");
            vendor_key::finish(&mut sort, id, 12, 99);
            assert_eq!(match_key_of(&sort), b"a|b");
            assert_eq!(vendor_key::id_page_position(&sort), Some((id, 12, 99)));
            assert_eq!(vendor_key::id_page_position(vendor_key::id_entry(&sort).sort), Some((id, 12, 99)));
        }
        assert_eq!(id_of_key_sort(b"short"), None);
        assert_eq!(vendor_key::id_page_position(&[0; 15]), None);
    }

    #[test]
    fn the_key_hash_is_xxh3_and_stays_so() {
        // Published XXH3-64 test vector (seed 0): spill files on disk depend on it.
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(key_hash(b""), 0);
        assert_ne!(key_hash(b"a"), key_hash(b"b"));
    }

    #[test]
    fn a_hash_byte_of_zero_does_not_cut_the_key() {
        let key = (0..200u32).map(|n| format!("k{n}")).find(|k| key_hash(k.as_bytes()).to_be_bytes().contains(&0));
        let key = key.expect("some key hashes to a zero byte");
        assert_eq!(match_key_of(&key_sort(&key, 1)), key.as_bytes());
    }

    #[test]
    fn id_entries_put_the_latest_page_last_and_carry_the_sort_key() {
        let sort = |key: &str, id, page, position| {
            let mut out = Vec::new();
            start_key_sort(&mut out);
            out.extend_from_slice(key.as_bytes());
            vendor_key::finish(&mut out, id, page, position);
            out
        };
        let sorts = [sort("b", 7, 3, 0), sort("a", 7, 2, 999), sort("z", -7, 9, 9), sort("", 7, 3, 1)];
        let mut entries: Vec<Record<'_>> = sorts.iter().map(|s| vendor_key::id_entry(s)).collect();
        entries.sort_by(|a, b| a.sort.cmp(b.sort));
        let order: Vec<&[u8]> = entries.iter().map(|e| match_key_of(e.payload)).collect();
        assert_eq!(order, vec![&b"z"[..], b"a", b"b", b""]);
        assert_eq!(vendor_key::id_bytes(entries[1].sort), vendor_key::id_bytes(entries[3].sort));
        assert_ne!(vendor_key::id_bytes(entries[0].sort), vendor_key::id_bytes(entries[1].sort));
    }
}
