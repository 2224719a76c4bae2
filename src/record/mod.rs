//! The records that flow through the pipeline, as bytes: a sort key and a
//! payload of binary COPY fields.
//!
//! An encoded record is `[sort length: u32 LE][payload length: u32 LE][sort
//! key][payload]`. Sorting compares sort keys as bytes, so every order the
//! pipeline needs is built into the key:
//!
//! - by match key: the normalized key, a `0x00` byte, then the id
//!   ([`push_id`]), giving (key, id) order; an unmatchable record has the
//!   empty key and sorts first;
//! - vendor records by id: id, page and position, so the last of equal ids
//!   comes from the latest page ([`vendor_by_id`]).
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

/// Appends `id` so that byte order is numeric order (sign bit flipped, big-endian).
pub fn push_id(out: &mut Vec<u8>, id: i64) {
    out.extend_from_slice(&((id as u64) ^ (1 << 63)).to_be_bytes());
}

/// Bytes a key sort key adds after the match key: `0x00` and the id.
const KEY_SUFFIX_BYTES: usize = 9;

/// Finishes a key sort key: `out` holds the match key (possibly empty); adds
/// the separator and the id.
pub fn finish_key_sort(out: &mut Vec<u8>, id: i64) {
    out.push(0);
    push_id(out, id);
}

/// The match key inside a key sort key ("" for an unmatchable record).
pub fn match_key_of(sort: &[u8]) -> &[u8] {
    &sort[..sort.len().saturating_sub(KEY_SUFFIX_BYTES)]
}

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
}

/// Vendor records sorted by id before duplicates are dropped (SPEC §2): the
/// sort key is (id, page, position); the payload is the key sort key, length
/// first, then the vendor fields.
pub mod vendor_by_id {
    /// Builds the by-id sort key.
    pub fn sort_key(out: &mut Vec<u8>, id: i64, page: u32, position: u32) {
        super::push_id(out, id);
        out.extend_from_slice(&page.to_be_bytes());
        out.extend_from_slice(&position.to_be_bytes());
    }

    /// The id part of a by-id sort key: equal ids have equal first 8 bytes.
    pub fn id_bytes(sort: &[u8]) -> &[u8] {
        &sort[..sort.len().min(8)]
    }

    /// Builds the payload from a key sort key and the vendor fields.
    pub fn payload(out: &mut Vec<u8>, key_sort: &[u8], fields: &[u8]) {
        out.extend_from_slice(&super::len_u32(key_sort.len()).to_le_bytes());
        out.extend_from_slice(key_sort);
        out.extend_from_slice(fields);
    }

    /// The record to sort by key: (key sort key, vendor fields).
    pub fn by_key(payload: &[u8]) -> Option<super::Record<'_>> {
        let len = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?) as usize;
        let sort = payload.get(4..4usize.checked_add(len)?)?;
        Some(super::Record { sort, payload: &payload[4 + len..] })
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

    #[test]
    fn key_sort_keys_order_by_key_then_id_with_unmatchable_first() {
        let sort = |key: &str, id: i64| {
            let mut out = key.as_bytes().to_vec();
            finish_key_sort(&mut out, id);
            out
        };
        let mut keys = [
            sort("ab", 1),
            sort("a", 5),
            sort("", 9),
            sort("a", -3),
            sort("a b", 0),
            sort("", -1),
            sort("a", i64::MAX),
        ];
        keys.sort();
        let order: Vec<(&[u8], i64)> =
            keys.iter().map(|k| (match_key_of(k), i64::from_be_bytes(k[k.len() - 8..].try_into().unwrap()))).collect();
        let flip = |id: i64| ((id as u64) ^ (1 << 63)) as i64;
        let expected: Vec<(&[u8], i64)> = vec![
            (b"", flip(-1)),
            (b"", flip(9)),
            (b"a", flip(-3)),
            (b"a", flip(5)),
            (b"a", flip(i64::MAX)),
            (b"a b", flip(0)),
            (b"ab", flip(1)),
        ];
        assert_eq!(order, expected);
    }

    #[test]
    fn by_id_keys_put_the_latest_page_last() {
        let key = |id, page, position| {
            let mut out = Vec::new();
            vendor_by_id::sort_key(&mut out, id, page, position);
            out
        };
        let mut keys = vec![key(7, 3, 0), key(7, 2, 999), key(-7, 9, 9), key(7, 3, 1)];
        keys.sort();
        assert_eq!(keys, vec![key(-7, 9, 9), key(7, 2, 999), key(7, 3, 0), key(7, 3, 1)]);
        assert_eq!(vendor_by_id::id_bytes(&keys[1]), vendor_by_id::id_bytes(&keys[3]));
    }

    #[test]
    fn a_by_id_payload_carries_the_key_record() {
        let mut payload = Vec::new();
        vendor_by_id::payload(&mut payload, b"k\0sortkey", b"fields");
        assert_eq!(vendor_by_id::by_key(&payload), Some(Record { sort: b"k\0sortkey", payload: b"fields" }));
        assert_eq!(vendor_by_id::by_key(&payload[..6]), None);
    }
}
