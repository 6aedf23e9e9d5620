//! The ban list: anyone with a credential reports a package hash, the
//! operator reviews the report (confirming it bans the hash), lifts a ban,
//! and everyone reads the list and a hash's history. The review rule (a
//! pending report is reviewed once) is `policy::ban_review`, the rows
//! `registry::bans`. Each change here that moves the ban set refreshes this
//! process's copy and tells the others ([`registry::bans::BanCache::changed`])
//! before it returns, so the next decision sees it.

use std::fmt;

use policy::ban_review::{self, AlreadyReviewed, ReportStatus, Review};
use registry::bans::{Ban, BanReport, NewReport, ReportFilter, Reviewed};
use registry::StoreError;

use crate::{Caller, Hall, Page};

/// A package's SHA-256: 64 hex characters, held lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackageHash(String);

/// Not a SHA-256 as 64 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sha256 must be 64 hex characters")]
pub struct InvalidPackageHash;

impl PackageHash {
    /// A hash as a client wrote it: surrounding blanks and case do not matter.
    pub fn parse(raw: &str) -> Result<Self, InvalidPackageHash> {
        let lower = raw.trim().to_ascii_lowercase();
        if attestation::package::is_sha256_hex(&lower) {
            Ok(Self(lower))
        } else {
            Err(InvalidPackageHash)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PackageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A report of a package hash that should be banned.
#[derive(Debug, Clone)]
pub struct ReportCommand {
    pub sha256: PackageHash,
    pub reason: String,
    /// An `http(s)://` link to the evidence.
    pub evidence_url: Option<String>,
}

/// Why a report was not filed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The reporter's tenant filed its quota of reports today.
    #[error(
        "your tenant has filed {reports_per_day} ban reports today (UTC), its daily quota; \
         file more tomorrow or ask the operator"
    )]
    QuotaExceeded { reports_per_day: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page of ban reports, oldest first; the next page starts after the
/// report id in `next`.
pub type ReportPage = Page<BanReport>;

/// Why a report could not be reviewed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("report {0} not found")]
    NotFound(String),
    /// A report is reviewed once.
    #[error("report {id} is already {status}")]
    AlreadyReviewed { id: String, status: ReportStatus },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a ban could not be lifted.
#[derive(Debug, thiserror::Error)]
pub enum LiftError {
    #[error("ban on {0} not found")]
    NoLiveBan(PackageHash),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every ban of one hash.
#[derive(Debug, Clone)]
pub struct BanHistory {
    /// Whether a ban on it is live now.
    pub banned: bool,
    /// Live and lifted, oldest first.
    pub bans: Vec<Ban>,
}

impl Hall {
    /// Files a report; the hash joins the ban list only when the operator
    /// confirms it. The operator's own reports are the operator's; everyone
    /// else's are the community's, at most [`Hall::ban_reports_per_day`] a
    /// tenant a day (`policy::ban_review::may_file`).
    pub async fn report_hash(
        &self,
        caller: Caller<'_>,
        command: ReportCommand,
    ) -> Result<BanReport, ReportError> {
        let source = if caller.operator {
            "operator"
        } else {
            "community"
        };
        let reports_per_day = self.ban_reports_per_day;
        self.store
            .report_hash(
                &NewReport {
                    sha256: command.sha256.as_str(),
                    reason: &command.reason,
                    evidence_url: command.evidence_url.as_deref(),
                    source,
                    reporter: Some(caller.tenant),
                },
                |filed| ban_review::may_file(caller.operator, filed, reports_per_day),
            )
            .await?
            .ok_or(ReportError::QuotaExceeded { reports_per_day })
    }

    /// The reports `filter` selects, oldest first, one page.
    pub async fn ban_reports(&self, filter: &ReportFilter) -> Result<ReportPage, StoreError> {
        let (reports, more) = self.store.ban_reports(filter).await?;
        let next = more.then(|| reports.last().map(|r| r.id.clone())).flatten();
        Ok(Page {
            items: reports,
            next,
        })
    }

    /// Confirms a pending report: its hash is banned (unless it already
    /// is), for decisions in this process at once and in the others as soon
    /// as they hear of it.
    pub async fn confirm_report(
        &self,
        id: &str,
        note: Option<String>,
    ) -> Result<(BanReport, Ban), ReviewError> {
        let Reviewed { report, ban } = self.review(id, Review::Confirm, note).await?;
        self.bans.changed().await;
        let ban = ban.ok_or_else(|| {
            StoreError::Corrupt(format!("report {id} was confirmed without a live ban"))
        })?;
        Ok((report, ban))
    }

    /// Rejects a pending report: its hash stays off the list.
    pub async fn reject_report(
        &self,
        id: &str,
        note: Option<String>,
    ) -> Result<BanReport, ReviewError> {
        Ok(self.review(id, Review::Reject, note).await?.report)
    }

    /// The operator's verdict on a report, if the rule lets it apply to the
    /// report as it is; of two reviews at the same time, one gets
    /// [`ReviewError::AlreadyReviewed`].
    async fn review(
        &self,
        id: &str,
        verdict: Review,
        note: Option<String>,
    ) -> Result<Reviewed, ReviewError> {
        let rule = |r: &BanReport| {
            ban_review::review(r.status, verdict).map_err(|AlreadyReviewed(status)| {
                ReviewError::AlreadyReviewed {
                    id: id.to_string(),
                    status,
                }
            })
        };
        let report = self.report(id).await?;
        let to = rule(&report)?;
        match self
            .store
            .review_report(id, report.status, to, note.as_deref())
            .await?
        {
            Some(reviewed) => Ok(reviewed),
            // Reviewed in between: say what it is now.
            None => {
                let now = self.report(id).await?;
                rule(&now)?;
                Err(ReviewError::AlreadyReviewed {
                    id: id.to_string(),
                    status: now.status,
                })
            }
        }
    }

    async fn report(&self, id: &str) -> Result<BanReport, ReviewError> {
        self.store
            .ban_report(id)
            .await?
            .ok_or_else(|| ReviewError::NotFound(id.to_string()))
    }

    /// Lifts the live ban on a hash, for decisions in this process at once
    /// and in the others as soon as they hear of it. The ban stays in the
    /// hash's history.
    pub async fn lift_ban(
        &self,
        sha256: &PackageHash,
        reason: Option<String>,
    ) -> Result<Ban, LiftError> {
        let ban = self
            .store
            .lift_ban(sha256.as_str(), reason.as_deref())
            .await?
            .ok_or_else(|| LiftError::NoLiveBan(sha256.clone()))?;
        self.bans.changed().await;
        Ok(ban)
    }

    /// The live bans, newest first.
    pub async fn live_bans(&self, limit: wcp::PageLimit) -> Result<Vec<Ban>, StoreError> {
        self.store.live_bans(limit).await
    }

    /// Every ban of `sha256`, live and lifted.
    pub async fn ban_history(&self, sha256: &PackageHash) -> Result<BanHistory, StoreError> {
        let bans = self.store.ban_history(sha256.as_str()).await?;
        Ok(BanHistory {
            banned: bans.iter().any(|b| b.lifted_at.is_none()),
            bans,
        })
    }
}
