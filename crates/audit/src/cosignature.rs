//! Witness cosignatures of checkpoints (C2SP `tlog-cosignature`, Ed25519
//! `cosignature/v1`): a witness that has checked a checkpoint is consistent
//! with every earlier one it saw signs it, and an auditor who trusts one
//! honest witness and asks for its cosignature cannot be shown a split view
//! (issue 14, docs/audit.md). Pure.
//!
//! A cosignature is a note signature line `— <witness name> <base64>` over
//! the checkpoint's note; its bytes are the 4-byte key id
//! (SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4]), a big-endian u64 POSIX
//! timestamp and the Ed25519 signature of
//! `cosignature/v1\ntime <timestamp>\n<checkpoint text>`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::note::{
    b64, join_key, key_hash_for, signature_lines, split_key, valid_name, NoteError, SIG_PREFIX,
};
use base64::Engine;

/// The signature type byte of Ed25519 `cosignature/v1` keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The message a witness signs for `text` (a checkpoint's note body) at
/// `timestamp`.
pub fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A witness's public key: a name and an Ed25519 key used for
/// `cosignature/v1` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl WitnessKey {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        Ok(Self {
            name: name.to_string(),
            id: key_hash_for(name, ALG_COSIGNATURE_V1, &key),
            key,
        })
    }

    /// Parses a witness verifier key,
    /// `<name>+<hex key id>+<base64(0x04 ‖ key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let parts = split_key(
            vkey,
            ALG_COSIGNATURE_V1,
            "not a witness key: a witness cosigns with an Ed25519 cosignature/v1 key (type 0x04)",
        )?;
        let key = VerifyingKey::from_bytes(&parts.key)
            .map_err(|_| NoteError::BadKey("not an Ed25519 public key"))?;
        let witness = Self::new(parts.name, key)?;
        parts.check_hash(&witness.id)?;
        Ok(witness)
    }

    /// The verifier key, as [`WitnessKey::from_vkey`] reads it.
    pub fn vkey(&self) -> String {
        join_key(
            &self.name,
            &self.id,
            ALG_COSIGNATURE_V1,
            self.key.as_bytes(),
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id that starts this witness's signature lines.
    pub fn key_id(&self) -> [u8; 4] {
        self.id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

/// What starts a witness's private key file (Go's note signer key format).
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// A witness: its name and Ed25519 signing key.
pub struct Witness {
    public: WitnessKey,
    key: SigningKey,
}

impl Witness {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        Ok(Self {
            public: WitnessKey::new(name, key.verifying_key())?,
            key,
        })
    }

    /// Reads a private key,
    /// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 ‖ 32-byte seed)>`.
    pub fn from_skey(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .trim_end()
            .strip_prefix(SKEY_PREFIX)
            .ok_or(NoteError::BadKey("not PRIVATE+KEY+<name>+<key id>+<key>"))?;
        let parts = split_key(
            rest,
            ALG_COSIGNATURE_V1,
            "not a cosignature/v1 key (type 0x04)",
        )?;
        let witness = Self::new(parts.name, SigningKey::from_bytes(&parts.key))?;
        parts.check_hash(&witness.public.id)?;
        Ok(witness)
    }

    /// The private key, as [`Witness::from_skey`] reads it.
    pub fn skey(&self) -> String {
        let key = join_key(
            &self.public.name,
            &self.public.id,
            ALG_COSIGNATURE_V1,
            self.key.as_bytes(),
        );
        format!("{SKEY_PREFIX}{key}")
    }

    pub fn public(&self) -> &WitnessKey {
        &self.public
    }

    /// The cosignature line (without its newline) of `text`, a checkpoint's
    /// note body, at `timestamp` (POSIX seconds).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<String, NoteError> {
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::Malformed("a cosignature time is at most 2^63-1"));
        }
        let signature = self.key.sign(cosigned_message(text, timestamp).as_bytes());
        let mut bytes = self.public.id.to_vec();
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{SIG_PREFIX}{} {}",
            self.public.name,
            b64().encode(bytes)
        ))
    }
}

/// A verified cosignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's name.
    pub witness: String,
    pub key_id: [u8; 4],
    /// When the witness signed (POSIX seconds).
    pub timestamp: u64,
    /// The signature line, without its newline.
    pub line: String,
}

/// The note's text and the cosignatures on it by the `witnesses` given,
/// each verified. Lines by other keys (the log's own signature, unknown
/// witnesses) are ignored; a line by a given witness that does not verify
/// refuses the note. A witness that signed twice counts once (the first).
pub fn cosignatures(
    note: &str,
    witnesses: &[WitnessKey],
) -> Result<(String, Vec<Cosignature>), NoteError> {
    let (text, lines) = signature_lines(note)?;
    let mut found: Vec<Cosignature> = Vec::new();
    for line in lines {
        let Some(w) = witnesses
            .iter()
            .find(|w| w.name == line.name && w.id[..] == line.bytes[..4])
        else {
            continue;
        };
        if found
            .iter()
            .any(|c| c.witness == w.name && c.key_id == w.id)
        {
            continue;
        }
        let bad = || NoteError::BadSignature(w.name.clone());
        let rest = &line.bytes[4..];
        if rest.len() != 8 + 64 {
            return Err(bad());
        }
        let timestamp = u64::from_be_bytes(rest[..8].try_into().map_err(|_| bad())?);
        if timestamp > i64::MAX as u64 {
            return Err(bad());
        }
        let signature = <[u8; 64]>::try_from(&rest[8..])
            .map(|b| Signature::from_bytes(&b))
            .map_err(|_| bad())?;
        w.key
            .verify(cosigned_message(text, timestamp).as_bytes(), &signature)
            .map_err(|_| bad())?;
        found.push(Cosignature {
            witness: w.name.clone(),
            key_id: w.id,
            timestamp,
            line: line.line.to_string(),
        });
    }
    Ok((text.to_string(), found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{open, Checkpoint, NoteSigner};

    fn witness(name: &str, seed: u8) -> Witness {
        Witness::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn checkpoint_note() -> (NoteSigner, String) {
        let log = NoteSigner::new(
            "registry.example.com/hall",
            SigningKey::from_bytes(&[1; 32]),
        )
        .unwrap();
        let c = Checkpoint::new("registry.example.com/hall/org.acme", 20852163, [7; 32]).unwrap();
        let note = log.sign(&c.to_text()).unwrap();
        (log, note)
    }

    #[test]
    fn a_cosignature_is_the_spec_layout_and_verifies() {
        let (log, note) = checkpoint_note();
        let w = witness("witness.example.com/w1", 9);
        let (text, _) = note
            .split_once("\n\n")
            .map(|(t, s)| (format!("{t}\n"), s))
            .unwrap();
        let line = w.cosign(&text, 1679315147).unwrap();
        let bytes = b64().decode(line.rsplit_once(' ').unwrap().1).unwrap();
        assert_eq!(bytes.len(), 4 + 8 + 64);
        assert_eq!(bytes[..4], w.public().key_id());
        assert_eq!(bytes[4..12], 1679315147u64.to_be_bytes());
        // The signed message is the header, the time line and the body.
        let message = cosigned_message(&text, 1679315147);
        assert!(message.starts_with(
            "cosignature/v1\ntime 1679315147\nregistry.example.com/hall/org.acme\n20852163\n"
        ));
        let signature = Signature::from_bytes(&bytes[12..].try_into().unwrap());
        assert!(w
            .public()
            .key
            .verify(message.as_bytes(), &signature)
            .is_ok());

        let cosigned = format!("{note}{line}\n");
        let (opened, found) = cosignatures(&cosigned, &[w.public().clone()]).unwrap();
        assert_eq!(opened, text);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].timestamp, 1679315147);
        assert_eq!(found[0].line, line);
        // The log's own signature still opens the cosigned note.
        assert!(open(&cosigned, &[log.verifier().clone()]).is_ok());
    }

    /// The same key, checkpoint and time as clients/python's test of its
    /// own cosignature code (written from the spec, not from this): the two
    /// implementations give the same line (Ed25519 is deterministic).
    #[test]
    fn a_cosignature_is_the_one_the_python_client_makes() {
        let (_, note) = checkpoint_note();
        let text = &note[..=note.find("\n\n").unwrap()];
        let w = witness("witness.example.com/w1", 9);
        assert_eq!(
            w.public().vkey(),
            "witness.example.com/w1+4bdc7eaa+BP0XJDhaoMdbZPt4zWAvodmR/ev3axPFjtcC6sg16fYY"
        );
        assert_eq!(
            w.cosign(text, 1679315147).unwrap(),
            "\u{2014} witness.example.com/w1 S9x+qgAAAABkGFDL+x7idYR1I/nX7vDFJ/ag0gsOPILRI6Bsv7u3lVyLNLjHXr8omLEeL0t53/5qlasEwUwXzI87vOK1kIeMrUogAw=="
        );
    }

    #[test]
    fn a_cosignature_of_another_checkpoint_or_time_is_refused() {
        let (_, note) = checkpoint_note();
        let w = witness("witness.example.com/w1", 9);
        let text = &note[..=note.find("\n\n").unwrap()];
        let line = w.cosign(text, 100).unwrap();
        let other = note.replace("20852163", "20852164");
        assert_eq!(
            cosignatures(&format!("{other}{line}\n"), &[w.public().clone()]),
            Err(NoteError::BadSignature("witness.example.com/w1".into()))
        );
        // Another time in the line: the signature no longer verifies.
        let mut bytes = b64().decode(line.rsplit_once(' ').unwrap().1).unwrap();
        bytes[11] ^= 1;
        let moved = format!("{SIG_PREFIX}witness.example.com/w1 {}", b64().encode(bytes));
        assert!(cosignatures(&format!("{note}{moved}\n"), &[w.public().clone()]).is_err());
        // An unknown witness's line is ignored, not trusted.
        let stranger = witness("witness.example.com/w2", 10);
        let theirs = stranger.cosign(text, 100).unwrap();
        let (_, found) = cosignatures(&format!("{note}{theirs}\n"), &[w.public().clone()]).unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn witness_keys_round_trip_and_log_keys_are_not_witness_keys() {
        let w = witness("witness.example.com/w1", 9);
        let vkey = w.public().vkey();
        assert_eq!(WitnessKey::from_vkey(&vkey).unwrap(), *w.public());
        let again = Witness::from_skey(&w.skey()).unwrap();
        assert_eq!(again.public(), w.public());
        // A note signer's (type 0x01) key is refused as a witness key.
        let log =
            NoteSigner::new("witness.example.com/w1", SigningKey::from_bytes(&[9; 32])).unwrap();
        assert!(matches!(
            WitnessKey::from_vkey(&log.verifier().vkey()),
            Err(NoteError::BadKey(_))
        ));
        // The same key under the two types has different ids.
        assert_ne!(
            vkey.split('+').nth(1),
            log.verifier().vkey().split('+').nth(1)
        );
        let wrong_id = format!(
            "witness.example.com/w1+00000000+{}",
            vkey.rsplit('+').next().unwrap()
        );
        assert!(WitnessKey::from_vkey(&wrong_id).is_err());
        assert!(Witness::from_skey("PRIVATE+KEY+x").is_err());
    }
}
