//! The receipt export: `GET /api/v1/audit/receipts`.

use ::audit::Receipt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReceiptExport {
    /// Receipts in chain order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub receipts: Vec<Receipt>,
    /// Pass as `after` for the next page; null at the end of the chain.
    pub next_after: Option<i64>,
}
