//! Records <-> CSV rows of run files (csv crate), with nulls kept apart from empty strings.

use std::mem::size_of;

use chrono::NaiveDate;
use csv::ByteRecord;

use crate::model::{InternalUser, Keyed, VendorById, VendorUser};

/// A record that can be sorted and spilled to a run file.
pub trait RunRecord: Ord + Sized {
    /// Bytes this record holds in memory: its own size plus what it owns on
    /// the heap. This is what the memory budget counts.
    fn memory_bytes(&self) -> usize;
    /// Appends the record's fields to `row`.
    fn encode(&self, row: &mut RowEncoder);
    /// Reads a record back from the fields written by `encode`.
    fn decode(row: &mut RowDecoder<'_>) -> Result<Self, CodecError>;
}

/// A run file row that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Fewer fields than the record has.
    #[error("row has too few fields")]
    MissingField,
    /// A field that is not what was written.
    #[error("field {index} is not a valid {what}")]
    BadField {
        /// Field position.
        index: usize,
        /// What was expected.
        what: &'static str,
    },
}

/// Builds one CSV row. Optional text is written as "" for null and as `=`
/// followed by the value otherwise, so null and "" survive the round trip.
pub struct RowEncoder {
    row: ByteRecord,
    scratch: Vec<u8>,
}

impl Default for RowEncoder {
    fn default() -> Self {
        RowEncoder { row: ByteRecord::new(), scratch: Vec::new() }
    }
}

impl RowEncoder {
    /// Empties the row for the next record.
    pub fn clear(&mut self) {
        self.row.clear();
    }
    /// The row built so far.
    pub fn row(&self) -> &ByteRecord {
        &self.row
    }
    /// A required text field.
    pub fn text(&mut self, value: &str) {
        self.row.push_field(value.as_bytes());
    }
    /// An optional text field.
    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            None => self.row.push_field(b""),
            Some(v) => {
                self.scratch.clear();
                self.scratch.push(b'=');
                self.scratch.extend_from_slice(v.as_bytes());
                self.row.push_field(&self.scratch);
            }
        }
    }
    /// An integer field.
    pub fn int(&mut self, value: i64) {
        self.row.push_field(itoa::Buffer::new().format(value).as_bytes());
    }
    /// An optional date field.
    pub fn opt_date(&mut self, value: Option<NaiveDate>) {
        match value {
            None => self.row.push_field(b""),
            Some(d) => self.row.push_field(d.format("%Y-%m-%d").to_string().as_bytes()),
        }
    }
}

/// Reads the fields of one row in order.
pub struct RowDecoder<'a> {
    row: &'a ByteRecord,
    next: usize,
}

impl<'a> RowDecoder<'a> {
    /// Starts at the first field of `row`.
    pub fn new(row: &'a ByteRecord) -> RowDecoder<'a> {
        RowDecoder { row, next: 0 }
    }

    fn field(&mut self) -> Result<(usize, &'a [u8]), CodecError> {
        let index = self.next;
        let bytes = self.row.get(index).ok_or(CodecError::MissingField)?;
        self.next += 1;
        Ok((index, bytes))
    }

    /// A required text field.
    pub fn text(&mut self) -> Result<String, CodecError> {
        let (index, bytes) = self.field()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::BadField { index, what: "UTF-8 text" })
    }
    /// An optional text field.
    pub fn opt_text(&mut self) -> Result<Option<String>, CodecError> {
        let (index, bytes) = self.field()?;
        match bytes.split_first() {
            None => Ok(None),
            Some((b'=', rest)) => String::from_utf8(rest.to_vec())
                .map(Some)
                .map_err(|_| CodecError::BadField { index, what: "UTF-8 text" }),
            Some(_) => Err(CodecError::BadField { index, what: "optional text" }),
        }
    }
    /// An integer field.
    pub fn int(&mut self) -> Result<i64, CodecError> {
        let (index, bytes) = self.field()?;
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(CodecError::BadField { index, what: "integer" })
    }
    /// An optional date field.
    pub fn opt_date(&mut self) -> Result<Option<NaiveDate>, CodecError> {
        let (index, bytes) = self.field()?;
        if bytes.is_empty() {
            return Ok(None);
        }
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .map(Some)
            .ok_or(CodecError::BadField { index, what: "date" })
    }
}

/// What a heap allocation of `capacity` bytes really takes from the
/// allocator: glibc malloc adds an 8-byte header, rounds up to 16 bytes and
/// hands out at least 32. Counting this keeps RSS close to the budget.
pub fn allocation_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        0
    } else {
        ((capacity + 8 + 15) & !15).max(32)
    }
}

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, |s| allocation_bytes(s.capacity()))
}

impl VendorUser {
    fn heap_bytes(&self) -> usize {
        opt_len(&self.firstname)
            + opt_len(&self.lastname)
            + opt_len(&self.specialty)
            + opt_len(&self.practice_location)
            + opt_len(&self.classification)
    }

    fn encode_fields(&self, row: &mut RowEncoder) {
        row.int(self.id);
        row.int(i64::from(self.page));
        row.int(i64::from(self.position));
        row.opt_text(self.firstname.as_deref());
        row.opt_text(self.lastname.as_deref());
        row.opt_text(self.specialty.as_deref());
        row.opt_text(self.practice_location.as_deref());
        row.opt_text(self.classification.as_deref());
        row.opt_date(self.last_active_date);
    }

    fn decode_fields(row: &mut RowDecoder<'_>) -> Result<VendorUser, CodecError> {
        Ok(VendorUser {
            id: row.int()?,
            page: small(row.int()?, 3)?,
            position: small(row.int()?, 4)?,
            firstname: row.opt_text()?,
            lastname: row.opt_text()?,
            specialty: row.opt_text()?,
            practice_location: row.opt_text()?,
            classification: row.opt_text()?,
            last_active_date: row.opt_date()?,
        })
    }
}

fn small(value: i64, index: usize) -> Result<u32, CodecError> {
    u32::try_from(value).map_err(|_| CodecError::BadField { index, what: "page number" })
}

impl InternalUser {
    fn heap_bytes(&self) -> usize {
        opt_len(&self.firstname)
            + opt_len(&self.lastname)
            + opt_len(&self.specialty)
            + opt_len(&self.location)
            + opt_len(&self.classification)
            + opt_len(&self.platform_registered_on)
    }

    fn encode_fields(&self, row: &mut RowEncoder) {
        row.int(self.id);
        row.opt_text(self.firstname.as_deref());
        row.opt_text(self.lastname.as_deref());
        row.opt_text(self.specialty.as_deref());
        row.opt_text(self.location.as_deref());
        row.opt_text(self.classification.as_deref());
        row.opt_text(self.platform_registered_on.as_deref());
        row.opt_date(self.last_active_date);
    }

    fn decode_fields(row: &mut RowDecoder<'_>) -> Result<InternalUser, CodecError> {
        Ok(InternalUser {
            id: row.int()?,
            firstname: row.opt_text()?,
            lastname: row.opt_text()?,
            specialty: row.opt_text()?,
            location: row.opt_text()?,
            classification: row.opt_text()?,
            platform_registered_on: row.opt_text()?,
            last_active_date: row.opt_date()?,
        })
    }
}

impl RunRecord for VendorById {
    fn memory_bytes(&self) -> usize {
        size_of::<Self>() + self.0.heap_bytes()
    }
    fn encode(&self, row: &mut RowEncoder) {
        self.0.encode_fields(row);
    }
    fn decode(row: &mut RowDecoder<'_>) -> Result<Self, CodecError> {
        VendorUser::decode_fields(row).map(VendorById)
    }
}

impl RunRecord for Keyed<VendorUser> {
    fn memory_bytes(&self) -> usize {
        size_of::<Self>() + allocation_bytes(self.key.capacity()) + self.user.heap_bytes()
    }
    fn encode(&self, row: &mut RowEncoder) {
        row.text(&self.key);
        self.user.encode_fields(row);
    }
    fn decode(row: &mut RowDecoder<'_>) -> Result<Self, CodecError> {
        Ok(Keyed { key: row.text()?, user: VendorUser::decode_fields(row)? })
    }
}

impl RunRecord for Keyed<InternalUser> {
    fn memory_bytes(&self) -> usize {
        size_of::<Self>() + allocation_bytes(self.key.capacity()) + self.user.heap_bytes()
    }
    fn encode(&self, row: &mut RowEncoder) {
        row.text(&self.key);
        self.user.encode_fields(row);
    }
    fn decode(row: &mut RowDecoder<'_>) -> Result<Self, CodecError> {
        Ok(Keyed { key: row.text()?, user: InternalUser::decode_fields(row)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<R: RunRecord + std::fmt::Debug + Clone>(record: &R) -> R {
        let mut enc = RowEncoder::default();
        record.encode(&mut enc);
        let mut csv_bytes = Vec::new();
        {
            let mut w = csv::WriterBuilder::new().flexible(true).from_writer(&mut csv_bytes);
            w.write_byte_record(enc.row()).unwrap();
        }
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&csv_bytes[..]);
        let mut row = ByteRecord::new();
        assert!(r.read_byte_record(&mut row).unwrap());
        R::decode(&mut RowDecoder::new(&row)).unwrap()
    }

    #[test]
    fn internal_user_survives_csv_with_nulls_empties_and_hostile_text() {
        let user = InternalUser {
            id: -7,
            firstname: Some(String::new()),
            lastname: None,
            specialty: Some("a,\"b\"\n\tc=".into()),
            location: Some("=x".into()),
            classification: Some("ü".into()),
            platform_registered_on: None,
            last_active_date: Some("2017-01-02".parse().unwrap()),
        };
        let keyed = Keyed { key: "k|é".into(), user };
        assert_eq!(round_trip(&keyed), keyed);
    }

    #[test]
    fn allocation_bytes_follow_malloc_rounding() {
        assert_eq!(allocation_bytes(0), 0);
        assert_eq!(allocation_bytes(1), 32);
        assert_eq!(allocation_bytes(24), 32);
        assert_eq!(allocation_bytes(25), 48);
    }

    #[test]
    fn vendor_user_survives_csv() {
        let user = VendorUser {
            id: 109982,
            page: 3,
            position: 999,
            firstname: Some("Fern".into()),
            lastname: Some("Angelovich".into()),
            specialty: None,
            practice_location: Some("bon_air".into()),
            classification: Some("Contributor".into()),
            last_active_date: None,
        };
        assert_eq!(round_trip(&VendorById(user.clone())), VendorById(user));
    }
}
