//! Receipt signing key rotation: the new kid is published and signs from
//! now on, the old one stays published as retired; a source that cannot
//! give a new key changes nothing; replicas follow only to a key their own
//! source holds.

use ed25519_dalek::SigningKey;
use registry::receipts::ReceiptKey;
use service::receipt_keys::{Followed, KeySource, KeySourceError, RotateError};

use crate::fixture::Fixture;

fn key(byte: u8) -> ReceiptKey {
    let key = SigningKey::from_bytes(&[byte; 32]);
    ReceiptKey {
        kid: audit::key_id(&key.verifying_key()),
        key,
    }
}

/// A key file as the operator keeps it: it holds one key at a time.
struct File(Result<ReceiptKey, KeySourceError>);

impl File {
    fn holding(k: Result<ReceiptKey, KeySourceError>) -> Self {
        Self(k)
    }

    fn read(&self) -> Result<ReceiptKey, KeySourceError> {
        self.0.clone()
    }
}

impl KeySource for File {
    fn next_key(&self) -> Result<ReceiptKey, KeySourceError> {
        self.read()
    }

    fn current_key(&self) -> Result<ReceiptKey, KeySourceError> {
        self.read()
    }

    fn location(&self) -> String {
        "/etc/hall/receipt.key".into()
    }
}

/// The published keys as (kid, retired?).
async fn published(f: &Fixture) -> Vec<(String, bool)> {
    f.hall
        .receipt_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.retired_at.is_some()))
        .collect()
}

#[tokio::test]
async fn rotation_publishes_the_new_kid_and_retires_the_old() {
    let f = Fixture::start().await;
    let old = f.hall.receipts.key().kid.clone();
    let new = key(9);

    let rotated = f
        .hall
        .rotate_receipt_key(&File::holding(Ok(key(9))))
        .await
        .unwrap();

    assert_eq!(rotated.kid, new.kid);
    assert_eq!(rotated.retired_kid, old);
    assert_eq!(f.hall.receipts.key().kid, new.kid, "new receipts use it");
    let keys: Vec<(String, bool)> = rotated
        .keys
        .iter()
        .map(|k| (k.kid.clone(), k.retired_at.is_some()))
        .collect();
    assert_eq!(
        keys,
        [(old.clone(), true), (new.kid.clone(), false)],
        "both published, only the new one active"
    );
    assert_eq!(published(&f).await, keys);
}

#[tokio::test]
async fn a_source_that_gives_no_new_key_changes_nothing() {
    let f = Fixture::start().await;
    let active = f.hall.receipts.key().kid.clone();
    let before = published(&f).await;

    // A provided file not yet rewritten: it still holds the active key.
    let err = f
        .hall
        .rotate_receipt_key(&File::holding(Ok(key(1))))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RotateError::StillActive { kid, .. } if *kid == active),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "/etc/hall/receipt.key still holds the active key {active}: write the new key \
             there first (`hallctl keygen --out <file>`), then rotate"
        )
    );

    // A key set in configuration, and a file that cannot be read.
    for (source, cannot_rotate) in [
        (
            KeySourceError::CannotRotate("set it in the configuration".into()),
            true,
        ),
        (KeySourceError::Unusable("cannot read it".into()), false),
    ] {
        let message = source.to_string();
        let err = f
            .hall
            .rotate_receipt_key(&File::holding(Err(source)))
            .await
            .unwrap_err();
        match err {
            RotateError::CannotRotate(m) if cannot_rotate => assert_eq!(m, message),
            RotateError::SourceUnusable(m) if !cannot_rotate => assert_eq!(m, message),
            other => panic!("{other:?}"),
        }
    }

    assert_eq!(f.hall.receipts.key().kid, active);
    assert_eq!(published(&f).await, before);
}

#[tokio::test]
async fn a_replica_follows_a_rotation_only_to_a_key_its_own_source_holds() {
    let f = Fixture::start().await;
    let own = f.hall.receipts.key().kid.clone();
    let announced = key(9).kid;

    // Its file was not rewritten: it keeps its key.
    let followed = f
        .hall
        .follow_rotation(&File::holding(Ok(key(1))), &announced)
        .unwrap();
    assert_eq!(followed, Followed::Kept { kept: own.clone() });
    assert_eq!(f.hall.receipts.key().kid, own);

    // Its file holds the announced key: it switches, once.
    let shared = File::holding(Ok(key(9)));
    assert_eq!(
        f.hall.follow_rotation(&shared, &announced).unwrap(),
        Followed::Switched
    );
    assert_eq!(f.hall.receipts.key().kid, announced);
    assert_eq!(
        f.hall.follow_rotation(&shared, &announced).unwrap(),
        Followed::AlreadyActive
    );
}
