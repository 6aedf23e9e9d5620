//! Receipt signing keys: every key receipts were ever signed with (public,
//! so old receipts verify offline), and the operator's rotation.
//!
//! Where a process's key comes from (configuration, a provided file, a
//! generated file) is the process's business (`api::receipt_keys`); it is
//! handed to the use cases as a [`KeySource`]. The steps and rules are here:
//! a rotation must give a key other than the one signing now; the new key is
//! published before its first use (a receipt never names an unpublished
//! kid), then this process signs with it, then the other replicas are told
//! ([`ROTATION_CHANNEL`]) and each switches when its own source holds the
//! announced key ([`Hall::follow_rotation`]). Retired keys stay published.

use registry::receipt_keys::PublishedKey;
use registry::receipts::ReceiptKey;
use registry::StoreError;

use crate::Hall;

/// The channel rotations are announced on (the payload is the new kid).
pub const ROTATION_CHANNEL: &str = "hall_receipt_keys";

/// Where this process's receipt signing key comes from.
pub trait KeySource: Send + Sync {
    /// The key to sign with after a rotation: a fresh one when the source
    /// makes its own, what it holds now otherwise.
    fn next_key(&self) -> Result<ReceiptKey, KeySourceError>;

    /// The key the source holds now (to follow another replica's rotation).
    fn current_key(&self) -> Result<ReceiptKey, KeySourceError>;

    /// Where the key is kept, as the operator would look for it (a path).
    fn location(&self) -> String;
}

/// Why a source gave no key.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeySourceError {
    /// The source cannot give a new key by itself (a key set in configuration).
    #[error("{0}")]
    CannotRotate(String),
    /// The source could not be read or written, or holds no key.
    #[error("{0}")]
    Unusable(String),
}

/// A rotation done.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// The kid receipts are signed with from now on.
    pub kid: String,
    /// The kid it replaced (still published: its receipts verify).
    pub retired_kid: String,
    /// Every published key, the new one active.
    pub keys: Vec<PublishedKey>,
}

/// Why no rotation was done (this process still signs with its key).
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("{0}")]
    CannotRotate(String),
    /// A provided key source still holds the key signing now.
    #[error(
        "{location} still holds the active key {kid}: write the new key there first \
         (`hallctl keygen --out <file>`), then rotate"
    )]
    StillActive { location: String, kid: String },
    #[error("{0}")]
    SourceUnusable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What this replica did about another replica's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Followed {
    /// It signs with the announced key already.
    AlreadyActive,
    /// It switched to the announced key.
    Switched,
    /// Its source holds another key (`kept`): it keeps signing with its own;
    /// both are published, both verify.
    Kept { kept: String },
}

impl Hall {
    /// Every key receipts were ever signed with, oldest first.
    pub async fn receipt_keys(&self) -> Result<Vec<PublishedKey>, StoreError> {
        self.store.receipt_keys().await
    }

    /// Starts signing with the source's next key and retires the one
    /// signing now.
    pub async fn rotate_receipt_key(&self, source: &dyn KeySource) -> Result<Rotated, RotateError> {
        let active = self.receipts.key();
        let next = source.next_key().map_err(|e| match e {
            KeySourceError::CannotRotate(m) => RotateError::CannotRotate(m),
            KeySourceError::Unusable(m) => RotateError::SourceUnusable(m),
        })?;
        if next.kid == active.kid {
            return Err(RotateError::StillActive {
                location: source.location(),
                kid: active.kid.clone(),
            });
        }
        // Published before first use: a receipt never names an unpublished kid.
        self.store
            .publish_receipt_key(&next.kid, next.key.verifying_key().as_bytes())
            .await?;
        let kid = next.kid.clone();
        self.receipts.set_key(next);
        tracing::info!(kid = %kid, retired = %active.kid, "receipt signing key rotated");
        if let Err(e) = self.store.announce(ROTATION_CHANNEL, &kid).await {
            tracing::warn!(error = %e, "could not announce the rotation to other replicas");
        }
        Ok(Rotated {
            kid,
            retired_kid: active.kid.clone(),
            keys: self.store.receipt_keys().await?,
        })
    }

    /// Follows a rotation another replica announced (`announced`, its new
    /// kid): switches when this process's own source holds that key.
    pub fn follow_rotation(
        &self,
        source: &dyn KeySource,
        announced: &str,
    ) -> Result<Followed, KeySourceError> {
        if self.receipts.key().kid == announced {
            return Ok(Followed::AlreadyActive);
        }
        let key = source.current_key()?;
        if key.kid != announced {
            return Ok(Followed::Kept { kept: key.kid });
        }
        self.receipts.set_key(key);
        Ok(Followed::Switched)
    }
}
