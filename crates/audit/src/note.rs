//! Signed notes (C2SP `signed-note`) with Ed25519 signatures, and the
//! checkpoint they carry for a log (C2SP `tlog-checkpoint`): the formats
//! transparency logs (Go's checksum database, Sigstore, the witness
//! network) use, so that a Hall Registry checkpoint is read and checked by
//! their tools (issue 14). Pure.
//!
//! A note is its text (UTF-8, lines ending in a newline, no other control
//! characters), a blank line, and one or more lines `— <name> <base64>`:
//! the base64 of the signer's 4-byte key hash and its signature over the
//! text. For Ed25519 the key hash is the first 4 bytes of
//! SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), and the verifier key is
//! written `<name>+<hex key hash>+<base64(0x01 ‖ public key)>`.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The signature algorithm byte of Ed25519 keys.
const ALG_ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
pub(crate) const SIG_PREFIX: &str = "\u{2014} ";
/// Most signature lines a note may carry (the spec asks verifiers to
/// accept at least 16 and to cap them; Go caps at 100).
const MAX_SIGNATURES: usize = 100;

pub(crate) fn b64() -> base64::engine::general_purpose::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Why a note, a key or a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a key name must be non-empty, without spaces, control characters or '+'")]
    BadName,
    #[error("malformed verifier key: {0}")]
    BadKey(&'static str),
    #[error("a note's text must be UTF-8 lines each ending in a newline, with no other control characters")]
    BadText,
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the signature of {0} does not verify")]
    BadSignature(String),
    #[error("no signature by a known key")]
    NoKnownSignature,
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(&'static str),
}

pub(crate) fn valid_name(name: &str) -> bool {
    // C2SP signed-note: no spaces and no '+'; and no control character,
    // which no note may hold.
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c == '\u{feff}' || c.is_control())
}

/// A key's 4-byte hash (its id in signature lines): the first bytes of
/// SHA-256(name ‖ "\n" ‖ algorithm byte ‖ public key).
pub(crate) fn key_hash_for(name: &str, alg: u8, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    key_hash_for(name, ALG_ED25519, key)
}

/// A named Ed25519 key that verifies notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    hash: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        Ok(Self {
            name: name.to_string(),
            hash: key_hash(name, &key),
            key,
        })
    }

    /// Parses a verifier key, `<name>+<hex key hash>+<base64(0x01 ‖ key)>`.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let parts = split_key(vkey, ALG_ED25519, "not an Ed25519 key")?;
        let key = VerifyingKey::from_bytes(&parts.key)
            .map_err(|_| NoteError::BadKey("not an Ed25519 public key"))?;
        let verifier = Self::new(parts.name, key)?;
        parts.check_hash(&verifier.hash)?;
        Ok(verifier)
    }

    /// The verifier key, as [`NoteVerifier::from_vkey`] reads it.
    pub fn vkey(&self) -> String {
        join_key(&self.name, &self.hash, ALG_ED25519, self.key.as_bytes())
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A key written `<name>+<hex key hash>+<base64(algorithm byte ‖ 32 bytes)>`
/// (C2SP signed-note's verifier keys, and the private keys Go's note
/// package writes after `PRIVATE+KEY+`), split and decoded.
pub(crate) struct KeyParts<'a> {
    pub name: &'a str,
    hash: &'a str,
    pub key: [u8; 32],
}

impl KeyParts<'_> {
    /// The written key hash must be the one computed from name and key.
    pub fn check_hash(&self, computed: &[u8; 4]) -> Result<(), NoteError> {
        if self.hash.len() != 8 || wcp::canonical::hex(computed) != self.hash.to_ascii_lowercase() {
            return Err(NoteError::BadKey(
                "the key hash does not match the name and key",
            ));
        }
        Ok(())
    }
}

/// Writes a key as [`split_key`] reads it:
/// `<name>+<hex key hash>+<base64(alg ‖ key)>`.
pub(crate) fn join_key(name: &str, hash: &[u8; 4], alg: u8, key: &[u8; 32]) -> String {
    let mut material = vec![alg];
    material.extend_from_slice(key);
    format!(
        "{name}+{}+{}",
        wcp::canonical::hex(hash),
        b64().encode(material)
    )
}

/// Splits a key of algorithm `alg` (`wrong_alg` says what else it is not).
pub(crate) fn split_key<'a>(
    key: &'a str,
    alg: u8,
    wrong_alg: &'static str,
) -> Result<KeyParts<'a>, NoteError> {
    let mut parts = key.splitn(3, '+');
    let (Some(name), Some(hash), Some(material)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(NoteError::BadKey("not <name>+<key hash>+<key>"));
    };
    let bytes = b64()
        .decode(material)
        .map_err(|_| NoteError::BadKey("the key is not base64"))?;
    let [found, rest @ ..] = bytes.as_slice() else {
        return Err(NoteError::BadKey("empty key"));
    };
    if *found != alg {
        return Err(NoteError::BadKey(wrong_alg));
    }
    let key: [u8; 32] = rest
        .try_into()
        .map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?;
    Ok(KeyParts { name, hash, key })
}

/// A named Ed25519 key that signs notes.
pub struct NoteSigner {
    verifier: NoteVerifier,
    key: SigningKey,
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        Ok(Self {
            verifier: NoteVerifier::new(name, key.verifying_key())?,
            key,
        })
    }

    /// The key that verifies what this signs.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// `text` as a signed note: the text, a blank line and this key's
    /// signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let signature = self.key.sign(text.as_bytes());
        let mut line = self.verifier.hash.to_vec();
        line.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.verifier.name,
            b64().encode(line)
        ))
    }
}

/// No character below U+0020 but the newline: the rule for a whole note.
pub(crate) fn no_control(s: &str) -> bool {
    !s.chars().any(|c| c < ' ' && c != '\n')
}

/// What this module signs: text ending in a newline, with no empty line
/// (so the blank line before the signatures is unambiguous to any reader).
fn check_text(text: &str) -> Result<(), NoteError> {
    let ok = text.ends_with('\n')
        && no_control(text)
        && !text.contains("\n\n")
        && !text.starts_with('\n');
    if ok {
        Ok(())
    } else {
        Err(NoteError::BadText)
    }
}

/// A note whose signatures were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    /// The signed text.
    pub text: String,
    /// The names of the known keys whose signatures verified.
    pub signed_by: Vec<String>,
}

/// Opens a signed note: its text, and which of `known` signed it. A
/// signature by a key not in `known` is ignored (notes may carry others'
/// cosignatures); one by a known key that does not verify refuses the note;
/// a note with no verified known signature is refused.
pub fn open(note: &str, known: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    let (text, lines) = signature_lines(note)?;
    let mut signed_by = Vec::new();
    let mut checked: Vec<(&str, [u8; 4])> = Vec::new();
    for SignatureLine { name, bytes, .. } in lines {
        let Some(v) = known
            .iter()
            .find(|v| v.name == name && v.hash[..] == bytes[..4])
        else {
            continue;
        };
        // A key's signature is checked once, however often it is repeated.
        if checked.contains(&(name, v.hash)) {
            continue;
        }
        checked.push((name, v.hash));
        let signature = <[u8; 64]>::try_from(&bytes[4..])
            .map(|b| Signature::from_bytes(&b))
            .map_err(|_| NoteError::BadSignature(name.to_string()))?;
        v.key
            .verify(text.as_bytes(), &signature)
            .map_err(|_| NoteError::BadSignature(name.to_string()))?;
        if !signed_by.iter().any(|n| n == name) {
            signed_by.push(name.to_string());
        }
    }
    if signed_by.is_empty() {
        return Err(NoteError::NoKnownSignature);
    }
    Ok(OpenedNote {
        text: text.to_string(),
        signed_by,
    })
}

/// One signature line of a note: the key name, the decoded bytes (at
/// least the 4-byte key hash) and the line as written, without its newline.
pub(crate) struct SignatureLine<'a> {
    pub name: &'a str,
    pub bytes: Vec<u8>,
    pub line: &'a str,
}

/// Splits a note into its text (ending in a newline) and its signature
/// lines, refusing malformed notes; no signature is checked.
pub(crate) fn signature_lines(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    // The text may hold empty lines (the last one separates the signatures);
    // nowhere in the note may there be a control character but the newline.
    if !no_control(note) {
        return Err(NoteError::BadText);
    }
    let (text, sigs) = (&note[..=split], &note[split + 2..]);
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed("no signature lines"));
    }
    if sigs.matches('\n').count() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("too many signature lines"));
    }
    let mut lines = Vec::new();
    for line in sigs[..sigs.len() - 1].split('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "a signature line does not start with an em dash",
        ))?;
        let (name, sig) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line is not <name> <signature>",
        ))?;
        let bytes = b64()
            .decode(sig)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        if !valid_name(name) || bytes.len() < 4 {
            return Err(NoteError::Malformed(
                "a signature line is not <name> <signature>",
            ));
        }
        lines.push(SignatureLine { name, bytes, line });
    }
    Ok((text, lines))
}

/// A log checkpoint (C2SP `tlog-checkpoint`): the log's origin, its tree
/// size and its root hash, and any extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    pub extensions: Vec<String>,
}

/// An origin or extension line: non-empty, no control character.
fn valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint of `origin` at `size` with head `root`; the origin must
    /// be one non-empty line.
    pub fn new(origin: &str, size: u64, root: [u8; 32]) -> Result<Self, NoteError> {
        if !valid_line(origin) {
            return Err(NoteError::BadCheckpoint(
                "the origin must be one non-empty line",
            ));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// The checkpoint's text: the note body a log signs.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64().encode(self.root)
        );
        for e in &self.extensions {
            text.push_str(e);
            text.push('\n');
        }
        text
    }

    /// Reads a checkpoint's text (a note's, once opened).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_text(text).map_err(|_| NoteError::BadCheckpoint("not note text"))?;
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::BadCheckpoint("no origin line"))?;
        let size = lines
            .next()
            .filter(|s| {
                !s.is_empty()
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (*s == "0" || !s.starts_with('0'))
            })
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(NoteError::BadCheckpoint("the size is not a decimal number"))?;
        let root = lines
            .next()
            .and_then(|r| b64().decode(r).ok())
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .ok_or(NoteError::BadCheckpoint(
                "the root is not a base64 SHA-256 hash",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if !valid_line(origin) || !extensions.iter().all(|e| valid_line(e)) {
            return Err(NoteError::BadCheckpoint("an empty or malformed line"));
        }
        Ok(Self {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Opens `note` as a checkpoint of the log `origin` signed by one of
    /// `known`: a checkpoint of another log (another tenant's, say) is
    /// refused even when the same key signed it.
    pub fn open(note: &str, origin: &str, known: &[NoteVerifier]) -> Result<Self, NoteError> {
        let opened = open(note, known)?;
        let checkpoint = Self::parse(&opened.text)?;
        if checkpoint.origin != origin {
            return Err(NoteError::BadCheckpoint("a checkpoint of another log"));
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Go's golang.org/x/mod/sumdb/note: a key, the note it
    /// signs and the signature it gives (Ed25519 is deterministic).
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const SEED: &str = "810a1402d5146c8d84f2443330f54080ebf98ee17d9c74f6252fc5d5c7283173";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n\
                        \n\
                        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn signer() -> NoteSigner {
        let seed: Vec<u8> = (0..32)
            .map(|i| u8::from_str_radix(&SEED[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let key = SigningKey::from_bytes(&seed.try_into().unwrap());
        NoteSigner::new("PeterNeumann", key).unwrap()
    }

    #[test]
    fn a_note_is_signed_and_opened_as_gos_note_package_does() {
        let s = signer();
        assert_eq!(s.verifier().vkey(), VKEY);
        assert_eq!(s.sign(TEXT).unwrap(), NOTE);
        let known = NoteVerifier::from_vkey(VKEY).unwrap();
        let opened = open(NOTE, &[known]).unwrap();
        assert_eq!(opened.text, TEXT);
        assert_eq!(opened.signed_by, ["PeterNeumann"]);
    }

    #[test]
    fn a_changed_note_or_an_unknown_signer_is_refused() {
        let known = NoteVerifier::from_vkey(VKEY).unwrap();
        let changed = NOTE.replace("cryptography", "blockchains");
        assert_eq!(
            open(&changed, std::slice::from_ref(&known)),
            Err(NoteError::BadSignature("PeterNeumann".into()))
        );
        let other = NoteSigner::new("Other", SigningKey::from_bytes(&[7u8; 32])).unwrap();
        let by_other = other.sign(TEXT).unwrap();
        assert_eq!(
            open(&by_other, std::slice::from_ref(&known)),
            Err(NoteError::NoKnownSignature)
        );
        // Another's cosignature beside a known one is ignored.
        let cosigned = format!("{NOTE}{}", by_other.rsplit_once("\n\n").unwrap().1);
        assert_eq!(
            open(&cosigned, &[known]).unwrap().signed_by,
            ["PeterNeumann"]
        );
    }

    #[test]
    fn malformed_keys_and_texts_are_refused() {
        assert!(NoteVerifier::from_vkey(
            "PeterNeumann+00000000+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
        assert!(NoteVerifier::from_vkey("PeterNeumann+c74f20a3").is_err());
        assert!(NoteVerifier::from_vkey(
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
        )
        .is_err());
        let s = signer();
        for bad in ["no newline", "a\n\nb\n", "tab\there\n", "\nleading\n"] {
            assert_eq!(s.sign(bad), Err(NoteError::BadText), "{bad:?}");
        }
        assert!(open("text\n", &[]).is_err());
        assert!(open("text\n\nnot a signature\n", &[]).is_err());
    }

    #[test]
    fn a_note_may_hold_empty_lines_but_no_control_characters_or_endless_signatures() {
        let known = NoteVerifier::from_vkey(VKEY).unwrap();
        // The blank line inside the text: the last one separates the signatures.
        let text = "first paragraph\n\nsecond\n";
        let sig_line = NOTE.rsplit_once("\n\n").unwrap().1;
        let foreign = format!("{text}\n{sig_line}");
        assert_eq!(
            open(&foreign, std::slice::from_ref(&known)),
            Err(NoteError::BadSignature("PeterNeumann".into())),
            "parsed, then refused only for its signature"
        );
        let cr = NOTE.replace("=\n", "=\r\n");
        assert_eq!(
            open(&cr, std::slice::from_ref(&known)),
            Err(NoteError::BadText)
        );
        let many = format!("{NOTE}{}", sig_line.repeat(MAX_SIGNATURES));
        assert!(matches!(
            open(&many, std::slice::from_ref(&known)),
            Err(NoteError::Malformed(_))
        ));
        // A repeated signature is checked once and named once.
        let twice = format!("{NOTE}{sig_line}");
        assert_eq!(open(&twice, &[known]).unwrap().signed_by, ["PeterNeumann"]);
    }

    #[test]
    fn a_checkpoint_of_another_log_is_refused() {
        let s = signer();
        let c = Checkpoint::new("registry.example.com/hall/org.acme", 3, [1; 32]).unwrap();
        let note = s.sign(&c.to_text()).unwrap();
        let known = [s.verifier().clone()];
        assert_eq!(
            Checkpoint::open(&note, "registry.example.com/hall/org.acme", &known),
            Ok(c)
        );
        assert!(Checkpoint::open(&note, "registry.example.com/hall/org.other", &known).is_err());
        assert!(Checkpoint::new("two\nlines", 1, [0; 32]).is_err());
        assert!(Checkpoint::new("", 1, [0; 32]).is_err());
    }

    #[test]
    fn a_checkpoint_round_trips_and_malformed_ones_are_refused() {
        let c = Checkpoint {
            origin: "registry.example.com/hall/org.acme".into(),
            size: 8,
            root: [0x5d; 32],
            extensions: vec![],
        };
        let text = c.to_text();
        assert_eq!(
            text,
            "registry.example.com/hall/org.acme\n8\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n"
        );
        assert_eq!(Checkpoint::parse(&text), Ok(c.clone()));
        let signed = signer().sign(&text).unwrap();
        let opened = open(&signed, &[signer().verifier().clone()]).unwrap();
        assert_eq!(Checkpoint::parse(&opened.text), Ok(c));
        for bad in [
            "origin\n08\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n",
            "origin\n-1\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n",
            "origin\n8\nXV1d\n",
            "origin\n8\n",
            "\n8\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n",
            "origin\n8\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n\next\n",
            "origin\n18446744073709551616\nXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV0=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
