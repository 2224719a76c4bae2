//! Users per cleaned specialty on each platform, counted as match writes the
//! rows, in bounded memory: the first [`MAX_SPECIALTIES`] specialties one by
//! one, any further ones together.

use std::collections::HashMap;

use super::stats::{PlatformCounts, SpecialtyCounts, MAX_SPECIALTIES};
use crate::clean::{self, Case};
use crate::model::Side;

/// Raw values remembered with their specialty, so that the few spellings
/// real data has are cleaned once, not once per user.
const RAW_SPELLINGS: usize = 4096;

/// The counts so far.
#[derive(Default)]
pub(super) struct SpecialtyCounter {
    counts: Vec<SpecialtyCounts>,
    /// Where each cleaned specialty (empty: blank) is in `counts`.
    by_cleaned: HashMap<Vec<u8>, usize>,
    /// The slot of each raw value seen; `None`: counted with the others.
    by_raw: HashMap<Vec<u8>, Option<usize>>,
    other: SpecialtyCounts,
    cleaned: Vec<u8>,
}

impl SpecialtyCounter {
    /// Counts one user of `side` whose specialty is `raw` (null: blank).
    pub(super) fn count(&mut self, raw: Option<&[u8]>, side: Side, active: bool) -> Result<(), std::str::Utf8Error> {
        let raw = raw.unwrap_or_default();
        let slot = match self.by_raw.get(raw) {
            Some(slot) => *slot,
            None => {
                let slot = self.slot_of(raw)?;
                if self.by_raw.len() < RAW_SPELLINGS {
                    self.by_raw.insert(raw.to_vec(), slot);
                }
                slot
            }
        };
        let counts = match slot {
            Some(slot) => &mut self.counts[slot],
            None => &mut self.other,
        };
        match side {
            Side::Internal => counts.internal.add(active),
            Side::Vendor => counts.vendor.add(active),
        }
        Ok(())
    }

    /// The slot of `raw`'s cleaned specialty, made if there is room.
    fn slot_of(&mut self, raw: &[u8]) -> Result<Option<usize>, std::str::Utf8Error> {
        self.cleaned.clear();
        clean::push_clean(&mut self.cleaned, raw, Case::Title)?;
        if let Some(slot) = self.by_cleaned.get(self.cleaned.as_slice()) {
            return Ok(Some(*slot));
        }
        if self.counts.len() >= MAX_SPECIALTIES {
            return Ok(None);
        }
        let specialty = (!self.cleaned.is_empty()).then(|| String::from_utf8_lossy(&self.cleaned).into_owned());
        self.counts.push(SpecialtyCounts {
            specialty,
            internal: PlatformCounts::default(),
            vendor: PlatformCounts::default(),
        });
        self.by_cleaned.insert(self.cleaned.clone(), self.counts.len() - 1);
        Ok(Some(self.counts.len() - 1))
    }

    /// The specialties by name (blank first), and the users of any others.
    pub(super) fn finish(mut self) -> (Vec<SpecialtyCounts>, SpecialtyCounts) {
        self.counts.sort_by(|a, b| a.specialty.cmp(&b.specialty));
        (self.counts, self.other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_specialty_count_together_and_past_the_limit_as_others() {
        let mut counter = SpecialtyCounter::default();
        for (raw, side, active) in [
            (Some(&b"NEUROLOGY"[..]), Side::Internal, true),
            (Some(b" neurology\r\n"), Side::Vendor, false),
            (Some(b"Neurology"), Side::Internal, false),
            (Some(b"Neurology"), Side::Internal, true),
            (None, Side::Vendor, true),
            (Some(b"  "), Side::Vendor, false),
        ] {
            counter.count(raw, side, active).unwrap();
        }
        for n in 0..MAX_SPECIALTIES + 5 {
            counter.count(Some(format!("specialty {n}").as_bytes()), Side::Vendor, true).unwrap();
        }
        let (counts, other) = counter.finish();
        assert_eq!(counts.len(), MAX_SPECIALTIES);
        assert_eq!(counts[0].specialty, None);
        assert_eq!(counts[0].vendor, PlatformCounts { users: 2, active: 1 });
        let neurology = counts.iter().find(|c| c.specialty.as_deref() == Some("Neurology")).unwrap();
        assert_eq!(
            (neurology.internal, neurology.vendor),
            (PlatformCounts { users: 3, active: 2 }, PlatformCounts { users: 1, active: 0 })
        );
        // 2 slots taken above, so 98 of the numbered ones fit and 7 do not.
        assert_eq!(other.vendor, PlatformCounts { users: 7, active: 7 });
    }
}
