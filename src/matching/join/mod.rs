//! The merge join: two key-sorted streams in, one call per warehouse row out,
//! each key group's status decided from at most two records per side.

use super::group::{group_status, Presence};
use crate::model::MatchStatus;
use crate::record::{group_of, Record, UNMATCHABLE_GROUP};
use crate::sort::merge::Merger;
use crate::sort::SortError;

/// A key-sorted stream of records, looked at one record at a time.
pub trait Cursor {
    /// The next record, not yet passed.
    fn peek(&self) -> Option<Record<'_>>;
    /// Moves past it.
    fn advance(&mut self) -> Result<(), SortError>;

    /// The next record's key group (hash and match key), if any.
    fn head_group(&self) -> Option<&[u8]> {
        self.peek().map(|r| group_of(r.sort))
    }
}

impl Cursor for Merger {
    fn peek(&self) -> Option<Record<'_>> {
        Merger::peek(self)
    }
    fn advance(&mut self) -> Result<(), SortError> {
        Merger::advance(self)
    }
}

/// Copies the next record of `cursor` into `into` and moves past it, if it
/// is of `group`.
fn take_if<C: Cursor>(cursor: &mut C, group: &[u8], into: &mut Vec<u8>) -> Result<bool, SortError> {
    match cursor.peek() {
        Some(record) if group_of(record.sort) == group => {
            into.clear();
            record.encode_into(into);
            cursor.advance()?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Emits every record of `cursor` of `group`, as `status`, on its side.
fn stream_group<C: Cursor, E: From<SortError>>(
    cursor: &mut C,
    group: &[u8],
    mut emit: impl FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), E> {
    while let Some(record) = cursor.peek() {
        if group_of(record.sort) != group {
            break;
        }
        emit(record)?;
        cursor.advance()?;
    }
    Ok(())
}

/// Merge-joins two key-sorted streams, calling `emit` once per warehouse row:
/// with both records for a matched pair, with one record otherwise.
pub fn join<E: From<SortError>>(
    vendor: &mut impl Cursor,
    internal: &mut impl Cursor,
    mut emit: impl FnMut(MatchStatus, Option<Record<'_>>, Option<Record<'_>>) -> Result<(), E>,
) -> Result<(), E> {
    let (mut key, mut first_vendor, mut first_internal) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        if vendor.head_group() == Some(UNMATCHABLE_GROUP) {
            stream_group(vendor, UNMATCHABLE_GROUP, |r| emit(MatchStatus::Unmatchable, Some(r), None))?;
            continue;
        }
        if internal.head_group() == Some(UNMATCHABLE_GROUP) {
            stream_group(internal, UNMATCHABLE_GROUP, |r| emit(MatchStatus::Unmatchable, None, Some(r)))?;
            continue;
        }
        // The smaller group comes first in both streams.
        key.clear();
        match (vendor.head_group(), internal.head_group()) {
            (None, None) => return Ok(()),
            (Some(v), Some(i)) => key.extend_from_slice(v.min(i)),
            (Some(v), None) => key.extend_from_slice(v),
            (None, Some(i)) => key.extend_from_slice(i),
        }
        let has_vendor = take_if(vendor, &key, &mut first_vendor)?;
        let has_internal = take_if(internal, &key, &mut first_internal)?;
        let vendor_presence = Presence::from_peek(has_vendor, vendor.head_group() == Some(&key));
        let internal_presence = Presence::from_peek(has_internal, internal.head_group() == Some(&key));
        let Some(status) = group_status(vendor_presence, internal_presence) else {
            continue;
        };
        let first_vendor = has_vendor.then(|| Record::decode(&first_vendor)).flatten();
        let first_internal = has_internal.then(|| Record::decode(&first_internal)).flatten();
        if status == MatchStatus::Matched {
            emit(status, first_vendor, first_internal)?;
            continue;
        }
        if let Some(record) = first_vendor {
            emit(status, Some(record), None)?;
            stream_group(vendor, &key, |r| emit(status, Some(r), None))?;
        }
        if let Some(record) = first_internal {
            emit(status, None, Some(record))?;
            stream_group(internal, &key, |r| emit(status, None, Some(r)))?;
        }
    }
}

#[cfg(test)]
mod tests;
