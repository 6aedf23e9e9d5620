//! The receipt export auditors verify offline: a tenant's receipts in chain
//! order, paged by chain position. The rows are `registry::receipts`.

use audit::Receipt;
use registry::StoreError;
use wcp::TenantId;

use crate::{Hall, Page};

/// A page of a tenant's chain, in chain order; the next page continues
/// after the chain position in `next`.
pub type ReceiptPage = Page<Receipt, i64>;

impl Hall {
    /// `tenant`'s receipts after chain position `after` (from the start when
    /// it is 0 or less), at most `limit` of them.
    pub async fn export_receipts(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: wcp::PageLimit,
    ) -> Result<ReceiptPage, StoreError> {
        let rows = self
            .store
            .tenant(tenant)
            .receipts(after.max(0), limit)
            .await?;
        // A full page may have a next one; a short page is the chain's end.
        let next_after = (rows.len() as i64 == limit.as_i64())
            .then(|| rows.last().map(|(seq, _)| *seq))
            .flatten();
        Ok(Page {
            items: rows.into_iter().map(|(_, r)| r).collect(),
            next: next_after,
        })
    }
}
