//! The match stage's rows: warehouse rows built by copying payload fields
//! into binary COPY tuples, counted for the report, sampled as JSON, and
//! written to segment files ([`super::segment`]).

use super::error::MatchError;
use super::pgcopy::{self, COLUMN_COUNT};
use super::segment::{OnPublished, Segment, SegmentWriter};
use super::stats::MatchStats;
use crate::activity::ActiveRule;
use crate::bug::Bug;
use crate::model::MatchStatus;
use crate::record::{field, internal, match_key_of, vendor, Record};
use crate::settings::RunSettings;

/// Matched rows kept as the report's sample.
const SAMPLE_ROWS: usize = 10;

/// Writes rows into segments, counting them and keeping the sample.
pub(super) struct RowWriter {
    /// The report date and run id fields, the same in every row.
    constant: Vec<u8>,
    rule: ActiveRule,
    segments: SegmentWriter,
    tuple: Vec<u8>,
    stats: MatchStats,
    sample: Vec<u8>,
    sampled: usize,
}

/// What the rows came to: the segments in order, the rows they hold, the
/// counts, and the sample as JSON lines.
pub(super) type Written = (Vec<Segment>, u64, MatchStats, Vec<u8>);

impl RowWriter {
    /// A writer of `settings`' rows for run `run_id` into segments in `dir`;
    /// each published segment is also handed to `on_published`, when given.
    pub(super) fn create(
        dir: &std::path::Path,
        run_id: &str,
        settings: &RunSettings,
        on_published: Option<OnPublished>,
    ) -> Result<RowWriter, MatchError> {
        let mut constant = Vec::new();
        field::put_date(&mut constant, Some(field::days_from_date(settings.report_date)));
        field::put_text(&mut constant, Some(run_id.as_bytes()));
        Ok(RowWriter {
            constant,
            rule: ActiveRule::new(settings.report_date, settings.active_days),
            segments: SegmentWriter::create(dir, on_published)?,
            tuple: Vec::with_capacity(512),
            stats: MatchStats::default(),
            sample: Vec::new(),
            sampled: 0,
        })
    }

    /// Writes the row of one matched pair, or of one record.
    pub(super) fn write(
        &mut self,
        status: MatchStatus,
        vendor: Option<Record<'_>>,
        internal: Option<Record<'_>>,
    ) -> Result<(), MatchError> {
        let malformed = |side| move |source| MatchError::Record { side, source };
        let v =
            vendor.map(|r| field::split::<{ vendor::FIELDS }>(r.payload)).transpose().map_err(malformed("vendor"))?;
        let i = internal
            .map(|r| field::split::<{ internal::FIELDS }>(r.payload))
            .transpose()
            .map_err(malformed("internal"))?;
        let key = vendor.or(internal).map(|r| match_key_of(r.sort)).filter(|k| !k.is_empty());
        self.build_tuple(status, key, v.as_ref(), i.as_ref());
        self.count(status, v.as_ref(), i.as_ref());
        if status == MatchStatus::Matched && self.sampled < SAMPLE_ROWS {
            let row = pgcopy::tuple_to_json(&self.tuple)
                .ok_or_else(|| Bug::new("a matched row built by match does not read back as a tuple"))?;
            self.sample.extend_from_slice(row.to_string().as_bytes());
            self.sample.push(b'\n');
            self.sampled += 1;
        }
        self.segments.append(&self.tuple)
    }

    /// Builds the tuple in table column order (SPEC §6): our values when we
    /// have the user, else the vendor's.
    fn build_tuple(
        &mut self,
        status: MatchStatus,
        key: Option<&[u8]>,
        v: Option<&[&[u8]; vendor::FIELDS]>,
        i: Option<&[&[u8]; internal::FIELDS]>,
    ) {
        let t = &mut self.tuple;
        t.clear();
        t.extend_from_slice(&(COLUMN_COUNT as i16).to_be_bytes());
        t.extend_from_slice(&self.constant);
        field::put_text(t, Some(status.name().as_bytes()));
        field::put_text(t, key);
        let null = |t: &mut Vec<u8>| field::put_text(t, None);
        let copy = |t: &mut Vec<u8>, f: Option<&[u8]>| match f {
            Some(f) => t.extend_from_slice(f),
            None => null(t),
        };
        copy(t, i.map(|i| i[internal::ID]));
        copy(t, v.map(|v| v[vendor::ID]));
        let shared = [
            (internal::FIRSTNAME, vendor::FIRSTNAME),
            (internal::LASTNAME, vendor::LASTNAME),
            (internal::SPECIALTY, vendor::SPECIALTY),
            (internal::LOCATION, vendor::LOCATION),
        ];
        for (ours, theirs) in shared {
            copy(t, i.map(|i| i[ours]).or(v.map(|v| v[theirs])));
        }
        copy(t, i.map(|i| i[internal::CLASSIFICATION]));
        copy(t, i.map(|i| i[internal::PLATFORM]));
        copy(t, i.map(|i| i[internal::LAST_ACTIVE]));
        let rule = self.rule;
        let active = |date: &[u8]| rule.is_active(field::date_days(date));
        field::put_bool(t, i.map(|i| active(i[internal::LAST_ACTIVE])));
        copy(t, v.map(|v| v[vendor::CLASSIFICATION]));
        copy(t, v.map(|v| v[vendor::LAST_ACTIVE]));
        field::put_bool(t, v.map(|v| active(v[vendor::LAST_ACTIVE])));
    }

    fn count(
        &mut self,
        status: MatchStatus,
        v: Option<&[&[u8]; vendor::FIELDS]>,
        i: Option<&[&[u8]; internal::FIELDS]>,
    ) {
        let rule = self.rule;
        let stats = &mut self.stats;
        stats.rows.add(status);
        if let Some(v) = v {
            let date = field::date_days(v[vendor::LAST_ACTIVE]);
            stats.vendor_records.add(status);
            stats.vendor_future_dates += u64::from(rule.is_future(date));
            stats.vendor_null_dates += u64::from(date.is_none());
        }
        if let Some(i) = i {
            let date = field::date_days(i[internal::LAST_ACTIVE]);
            stats.internal_records.add(status);
            stats.internal_future_dates += u64::from(rule.is_future(date));
            stats.internal_null_dates += u64::from(date.is_none());
        }
        if let (Some(v), Some(i)) = (v, i) {
            let active = |date: &[u8]| rule.is_active(field::date_days(date));
            stats.active.add(active(i[internal::LAST_ACTIVE]), active(v[vendor::LAST_ACTIVE]));
        }
    }

    /// Closes the last segment and waits until every one is published.
    pub(super) fn finish(self) -> Result<Written, MatchError> {
        let (segments, rows) = self.segments.finish()?;
        Ok((segments, rows, self.stats, self.sample))
    }
}
