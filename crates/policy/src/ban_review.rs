//! The operator's review of ban reports, pure: a report is filed pending
//! and reviewed once, confirmed (its hash is banned) or rejected. The store
//! keeps the rows and makes the change atomically; `service::bans` applies
//! this rule before it asks the store to.

use serde::{Deserialize, Serialize};

/// Where a report stands. Stored and serialized as `pending`, `confirmed`
/// or `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportStatus {
    Pending,
    Confirmed,
    Rejected,
}

crate::approvals::stored_names!(ReportStatus {
    Pending => "pending",
    Confirmed => "confirmed",
    Rejected => "rejected",
});

/// The operator's verdict on a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Confirm,
    Reject,
}

/// A report is reviewed once: this one already was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("it is already {0}")]
pub struct AlreadyReviewed(pub ReportStatus);

/// The operator's verdict on a report that is `status`: the status it
/// moves to. Only a pending report is reviewed.
pub fn review(status: ReportStatus, verdict: Review) -> Result<ReportStatus, AlreadyReviewed> {
    match status {
        ReportStatus::Pending => Ok(match verdict {
            Review::Confirm => ReportStatus::Confirmed,
            Review::Reject => ReportStatus::Rejected,
        }),
        done => Err(AlreadyReviewed(done)),
    }
}

/// Default of the registry's `HALL_BAN_REPORTS_PER_DAY`: how many reports
/// one tenant may file a day (UTC).
pub const DEFAULT_REPORTS_PER_DAY: u32 = 100;

/// Whether a reporter that filed `filed_today` reports today (UTC) may file
/// one more. The operator's own reports count against no quota (the
/// operator reviews every report anyway); a tenant files at most
/// `reports_per_day`, so nobody can bury the review list.
pub fn may_file(operator: bool, filed_today: u64, reports_per_day: u32) -> bool {
    operator || filed_today < u64::from(reports_per_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_files_at_most_its_daily_quota_and_the_operator_is_not_counted() {
        assert!(may_file(false, 0, 3));
        assert!(may_file(false, 2, 3));
        assert!(!may_file(false, 3, 3));
        assert!(!may_file(false, u64::MAX, 3));
        assert!(may_file(true, u64::MAX, 3));
    }

    #[test]
    fn statuses_keep_their_stored_names() {
        assert_eq!(
            ReportStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            ["pending", "confirmed", "rejected"]
        );
        for &s in ReportStatus::ALL {
            assert_eq!(ReportStatus::from_name(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(ReportStatus::from_name("approved"), None);
    }

    #[test]
    fn a_pending_report_is_reviewed_once() {
        assert_eq!(
            review(ReportStatus::Pending, Review::Confirm),
            Ok(ReportStatus::Confirmed)
        );
        assert_eq!(
            review(ReportStatus::Pending, Review::Reject),
            Ok(ReportStatus::Rejected)
        );
        for done in [ReportStatus::Confirmed, ReportStatus::Rejected] {
            assert_eq!(
                AlreadyReviewed(done).to_string(),
                format!("it is already {done}")
            );
            for verdict in [Review::Confirm, Review::Reject] {
                assert_eq!(review(done, verdict), Err(AlreadyReviewed(done)));
            }
        }
    }
}
