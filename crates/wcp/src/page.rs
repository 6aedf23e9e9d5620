//! Page sizes: the one rule for how many items a page of a list may hold.
//!
//! Every list the registry serves has a default page size and a maximum
//! ([`PageSize`], one constant per list). A requested limit becomes a
//! [`PageLimit`] once, at the edge: [`PageLimit::parse`] refuses a value out
//! of range with the sentence clients read ("limit must be an integer from 1
//! to N"); [`PageLimit::clamped`] brings it into range instead, for the one
//! list that has always clamped. The store takes a `PageLimit` and uses it
//! as it is: it never checks or clamps a limit again.

/// The page sizes of one list: the size when the caller asks for none, and
/// the largest it may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    pub default: u32,
    pub max: u32,
}

impl PageSize {
    pub const fn new(default: u32, max: u32) -> Self {
        Self { default, max }
    }

    /// `GET /api/v1/audit/receipts`: a tenant's receipts in chain order.
    pub const RECEIPT_EXPORT: PageSize = PageSize::new(1000, 5000);
    /// `GET /api/v1/decisions`: the decision log.
    pub const DECISIONS: PageSize = PageSize::new(50, 500);
    /// Telemetry events of one correlation id.
    pub const ROUTE_EVENTS: PageSize = PageSize::new(100, 500);
    /// `GET /api/v1/audit/checkpoints`.
    pub const CHECKPOINTS: PageSize = PageSize::new(100, 500);
    /// `GET /api/v1/workers`: a tenant's workers.
    pub const WORKERS: PageSize = PageSize::new(50, 200);
    /// The pages a whole listing of a tenant's workers is read in
    /// (WCP discovery answers with every active worker at once).
    pub const WORKER_SWEEP: PageSize = PageSize::new(500, 500);
    /// `GET /api/v1/ban-list`: the confirmed bans, and
    /// `GET /api/v1/ban-list/reports`: the reports under review.
    pub const BANS: PageSize = PageSize::new(500, 5000);
    /// `GET /api/v1/webhooks/{id}/deliveries`: an endpoint's delivery log.
    pub const WEBHOOK_DELIVERIES: PageSize = PageSize::new(50, 500);
}

/// How many items a page holds: at least 1 and at most its list's
/// [`PageSize::max`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageLimit(u32);

/// A limit out of its list's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("limit must be an integer from 1 to {max}")]
pub struct PageLimitError {
    pub max: u32,
}

impl PageLimit {
    /// The limit a caller asked for (`None`: the list's default); a value
    /// outside `1..=size.max` is refused.
    pub fn parse(raw: Option<i64>, size: PageSize) -> Result<Self, PageLimitError> {
        match raw {
            None => Ok(Self::default_of(size)),
            Some(n) if (1..=i64::from(size.max)).contains(&n) => Ok(Self(n as u32)),
            Some(_) => Err(PageLimitError { max: size.max }),
        }
    }

    /// The limit a caller asked for (`None`: the list's default), brought
    /// into `1..=size.max` rather than refused.
    pub fn clamped(raw: Option<i64>, size: PageSize) -> Self {
        match raw {
            None => Self::default_of(size),
            Some(n) => Self(n.clamp(1, i64::from(size.max)) as u32),
        }
    }

    /// The list's default page size.
    pub fn default_of(size: PageSize) -> Self {
        Self(size.default.clamp(1, size.max.max(1)))
    }

    /// The largest page the list allows.
    pub fn max_of(size: PageSize) -> Self {
        Self(size.max.max(1))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// The limit as SQL takes it (`LIMIT $n`, a `bigint`).
    pub fn as_i64(self) -> i64 {
        i64::from(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZE: PageSize = PageSize::new(50, 500);

    #[test]
    fn no_limit_is_the_lists_default() {
        assert_eq!(PageLimit::parse(None, SIZE).unwrap().get(), 50);
        assert_eq!(PageLimit::clamped(None, SIZE).get(), 50);
        assert_eq!(
            PageLimit::parse(None, PageSize::RECEIPT_EXPORT)
                .unwrap()
                .get(),
            1000
        );
    }

    #[test]
    fn a_limit_within_the_range_is_taken_as_it_is() {
        for n in [1, 2, 499, 500] {
            assert_eq!(PageLimit::parse(Some(n), SIZE).unwrap().as_i64(), n);
            assert_eq!(PageLimit::clamped(Some(n), SIZE).as_i64(), n);
        }
    }

    #[test]
    fn a_limit_outside_the_range_is_refused_with_the_range() {
        for n in [0, -1, 501, i64::MAX, i64::MIN] {
            let err = PageLimit::parse(Some(n), SIZE).unwrap_err();
            assert_eq!(err.to_string(), "limit must be an integer from 1 to 500");
        }
        assert_eq!(
            PageLimit::parse(Some(201), PageSize::WORKERS)
                .unwrap_err()
                .to_string(),
            "limit must be an integer from 1 to 200"
        );
    }

    #[test]
    fn clamping_brings_a_limit_into_the_range() {
        assert_eq!(PageLimit::clamped(Some(0), SIZE).get(), 1);
        assert_eq!(PageLimit::clamped(Some(-7), SIZE).get(), 1);
        assert_eq!(PageLimit::clamped(Some(501), SIZE).get(), 500);
        assert_eq!(PageLimit::clamped(Some(i64::MAX), SIZE).get(), 500);
    }

    #[test]
    fn the_largest_page_is_the_maximum() {
        assert_eq!(PageLimit::max_of(PageSize::BANS).get(), 5000);
        assert_eq!(PageLimit::max_of(PageSize::WORKER_SWEEP).get(), 500);
    }
}
