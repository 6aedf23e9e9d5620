//! Usage counts the SDKs report (`POST /api/v1/telemetry/decisions`): what a
//! report may carry. Each entry names a worker species (`wrk.…`, what the
//! SDKs send) or a WCP worker id, with a count from 1 to [`MAX_COUNT`]; a
//! report has 1 to [`MAX_ENTRIES`] entries.

use crate::{SpeciesId, WorkerId};

/// Most entries one report may carry.
pub const MAX_ENTRIES: usize = 1000;
/// Largest count one entry may report.
pub const MAX_COUNT: i64 = 1_000_000;
/// Default of the registry's `HALL_TELEMETRY_IDS_PER_DAY`: how many
/// different ids one tenant's totals may hold for one day.
pub const DEFAULT_IDS_PER_DAY: u32 = 10_000;

/// Whether a report that adds `new_ids` ids a tenant has not reported today
/// keeps its day within `ids_per_day` different ids (it already holds
/// `known_today`). Ids it has reported today always count on: the quota
/// bounds rows, not usage.
pub fn within_daily_ids(known_today: u64, new_ids: u64, ids_per_day: u32) -> bool {
    known_today.saturating_add(new_ids) <= u64::from(ids_per_day)
}

/// A checked report: (worker species or WCP worker id, count) in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReport {
    counts: Vec<(String, i64)>,
}

/// Why a report is refused; each sentence names the field (`decisions…`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("decisions must have 1 to {MAX_ENTRIES} entries")]
    Entries,
    #[error(
        "decisions[{index}].worker_id {id:?} is neither a worker species id (`wrk.…`) nor a WCP worker id (`<namespace>.<name>`)"
    )]
    WorkerId { index: usize, id: String },
    #[error("decisions[{index}].count must be an integer from 1 to {MAX_COUNT}")]
    Count { index: usize },
}

impl UsageReport {
    /// The entries (id, count) as sent; the first refused one is the answer.
    pub fn parse(entries: Vec<(String, i64)>) -> Result<Self, UsageError> {
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(UsageError::Entries);
        }
        for (index, (id, count)) in entries.iter().enumerate() {
            if SpeciesId::parse(id).is_err() && WorkerId::parse(id).is_err() {
                return Err(UsageError::WorkerId {
                    index,
                    id: id.clone(),
                });
            }
            if !(1..=MAX_COUNT).contains(count) {
                return Err(UsageError::Count { index });
            }
        }
        Ok(Self { counts: entries })
    }

    /// (id, count), in the order sent.
    pub fn counts(&self) -> &[(String, i64)] {
        &self.counts
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Never true of a parsed report.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, count: i64) -> (String, i64) {
        (id.to_string(), count)
    }

    #[test]
    fn a_day_holds_at_most_its_quota_of_different_ids() {
        assert!(within_daily_ids(0, 10, 10));
        assert!(within_daily_ids(9_990, 10, 10_000));
        assert!(!within_daily_ids(9_991, 10, 10_000));
        assert!(within_daily_ids(10_000, 0, 10_000), "known ids count on");
        assert!(!within_daily_ids(u64::MAX, 1, 10_000));
    }

    #[test]
    fn a_report_accepts_species_and_worker_ids_with_counts_in_range() {
        let r = UsageReport::parse(vec![
            entry("wrk.doc.summarizer", 1),
            entry("x.acme.worker", MAX_COUNT),
        ])
        .unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r.counts()[1], entry("x.acme.worker", MAX_COUNT));
    }

    #[test]
    fn a_report_refuses_the_first_bad_entry_by_its_index() {
        assert_eq!(UsageReport::parse(vec![]), Err(UsageError::Entries));
        let too_many = vec![entry("wrk.a.b", 1); MAX_ENTRIES + 1];
        assert_eq!(UsageReport::parse(too_many), Err(UsageError::Entries));
        assert_eq!(
            UsageReport::parse(vec![entry("wrk.a.b", 1), entry("nodots", 1)]),
            Err(UsageError::WorkerId {
                index: 1,
                id: "nodots".into()
            })
        );
        for bad in [0, -1, MAX_COUNT + 1] {
            assert_eq!(
                UsageReport::parse(vec![entry("wrk.a.b", bad)]),
                Err(UsageError::Count { index: 0 })
            );
        }
        assert_eq!(
            UsageError::Count { index: 3 }.to_string(),
            "decisions[3].count must be an integer from 1 to 1000000"
        );
    }
}
