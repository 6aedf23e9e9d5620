//! API key material and scopes. Keys are `phk_` followed by 43 base64url
//! characters (256 random bits); only their SHA-256 is ever stored.
//! The errors say which rule a value broke; the sentences people read are
//! written where they are shown (`api`).

use base64::Engine;
use sha2::{Digest, Sha256};

/// Every API key starts with this, so leaked keys are recognisable (secret scanners).
pub const KEY_PREFIX: &str = "phk_";
/// Characters of a key shown in listings: `phk_` and the first 8 of the secret.
const DISPLAY_PREFIX_LEN: usize = 12;
/// Shortest operator-supplied bootstrap key accepted.
pub const MIN_SUPPLIED_KEY_LEN: usize = 32;

/// A key's secret, as the client sends it. Never logged, never stored.
pub struct ApiKeySecret(String);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

/// Why no key secret came to be.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The system's random number generator failed (its error).
    Random(String),
    /// A supplied key shorter than [`MIN_SUPPLIED_KEY_LEN`] or with other
    /// than printable ASCII characters.
    WeakSuppliedKey,
    /// A supplied key that does not start with [`KEY_PREFIX`]: requests
    /// only look keys up by that prefix, so it could never authenticate.
    UnprefixedSuppliedKey,
}

impl ApiKeySecret {
    /// A fresh key with 256 bits from the OS's CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// A key chosen by the operator (`HALL_BOOTSTRAP_API_KEY`).
    pub fn supplied(key: &str) -> Result<Self, KeyError> {
        if key.len() < MIN_SUPPLIED_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(KeyError::WeakSuppliedKey);
        }
        if !key.starts_with(KEY_PREFIX) {
            return Err(KeyError::UnprefixedSuppliedKey);
        }
        Ok(Self(key.to_string()))
    }

    /// A credential as presented by a client (not checked for strength).
    pub fn presented(key: &str) -> Self {
        Self(key.to_string())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The non-secret start of the key, for listings (`phk_AbCdEfGh`).
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(DISPLAY_PREFIX_LEN).collect()
    }
}

/// SHA-256 of a key secret: what the database stores and looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Compares in time independent of where the bytes differ.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        if other.len() != self.0.len() {
            return false;
        }
        let diff = self
            .0
            .iter()
            .zip(other)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

/// What a key may do. `admin` includes the others within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// The tenant's keys, namespaces and policy.
    Admin,
    /// Register, change and revoke workers; attest.
    WorkersWrite,
    /// Make decisions.
    DecisionsWrite,
    /// Read the tenant's resources.
    Read,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Admin,
        Scope::WorkersWrite,
        Scope::DecisionsWrite,
        Scope::Read,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::WorkersWrite => "workers:write",
            Scope::DecisionsWrite => "decisions:write",
            Scope::Read => "read",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty, duplicate-free, sorted set of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

/// Why a list of scope names is not [`Scopes`].
#[derive(Debug, PartialEq, Eq)]
pub enum ScopeError {
    Empty,
    /// A name that is no [`Scope`].
    Unknown(String),
}

impl Scopes {
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, ScopeError> {
        let mut scopes = names
            .iter()
            .map(|n| {
                Scope::parse(n.as_ref()).ok_or_else(|| ScopeError::Unknown(n.as_ref().to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes))
    }

    pub fn all() -> Self {
        Self(Scope::ALL.to_vec())
    }

    /// Whether these scopes allow `scope` (`admin` allows everything).
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.contains(&scope) || self.0.contains(&Scope::Admin)
    }

    /// Whether every scope of `other` is allowed by these.
    pub fn covers(&self, other: &Scopes) -> bool {
        other.0.iter().all(|s| self.allows(*s))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|s| s.as_str().to_string()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_carry_256_random_bits_behind_a_recognisable_prefix() {
        let a = ApiKeySecret::generate().unwrap();
        let b = ApiKeySecret::generate().unwrap();
        assert!(a.expose().starts_with("phk_"));
        assert_eq!(a.expose().len(), 4 + 43);
        assert_ne!(a.expose(), b.expose());
        assert_ne!(a.hash().0, b.hash().0);
        assert_eq!(a.display_prefix().len(), 12);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let a = ApiKeySecret::generate().unwrap();
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn supplied_keys_must_be_long_and_printable() {
        assert_eq!(
            ApiKeySecret::supplied("short").unwrap_err(),
            KeyError::WeakSuppliedKey
        );
        assert!(ApiKeySecret::supplied(&format!("phk_{}", "a b".repeat(20))).is_err());
        assert!(ApiKeySecret::supplied(&format!("phk_{}", "x".repeat(40))).is_ok());
        assert_eq!(
            ApiKeySecret::supplied(&"x".repeat(44)).unwrap_err(),
            KeyError::UnprefixedSuppliedKey
        );
    }

    #[test]
    fn constant_time_comparison_agrees_with_equality() {
        let h = ApiKeySecret::presented("phk_abc").hash();
        assert!(h.ct_eq(&h.0));
        let mut other = h.0;
        other[31] ^= 1;
        assert!(!h.ct_eq(&other));
        assert!(!h.ct_eq(&h.0[..31]));
    }

    #[test]
    fn admin_allows_every_scope_and_others_only_themselves() {
        let admin = Scopes::parse(&["admin"]).unwrap();
        let read = Scopes::parse(&["read"]).unwrap();
        assert!(Scope::ALL.iter().all(|s| admin.allows(*s)));
        assert!(read.allows(Scope::Read));
        assert!(!read.allows(Scope::WorkersWrite));
        assert!(admin.covers(&Scopes::all()));
        assert!(!read.covers(&admin));
    }

    #[test]
    fn scopes_reject_unknown_and_empty_and_collapse_duplicates() {
        assert_eq!(
            Scopes::parse(&["read", "root"]).unwrap_err(),
            ScopeError::Unknown("root".into())
        );
        assert_eq!(Scopes::parse::<&str>(&[]).unwrap_err(), ScopeError::Empty);
        assert_eq!(
            Scopes::parse(&["read", "read"]).unwrap().names(),
            vec!["read"]
        );
    }
}

/// Properties of key material and scope lists over generated input.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn scope_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(Scope::ALL.to_vec()).prop_map(|s| s.as_str().to_string()),
            "(admin|read|workers:write|decisions:write)[ A:]?",
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn scope_lists_parse_to_the_sorted_set_of_known_names(
            names in prop::collection::vec(scope_name(), 0..6)
        ) {
            let known: Vec<Scope> = names.iter().filter_map(|n| Scope::parse(n)).collect();
            match Scopes::parse(&names) {
                Ok(scopes) => {
                    prop_assert_eq!(known.len(), names.len());
                    let mut expected = known.clone();
                    expected.sort();
                    expected.dedup();
                    prop_assert_eq!(scopes.iter().collect::<Vec<_>>(), expected);
                    // What a session carries parses back to the same scopes.
                    prop_assert_eq!(Scopes::parse(&scopes.names()), Ok(scopes.clone()));
                    prop_assert!(known.iter().all(|s| scopes.allows(*s)));
                }
                Err(ScopeError::Empty) => prop_assert!(names.is_empty()),
                Err(ScopeError::Unknown(name)) => {
                    prop_assert!(Scope::parse(&name).is_none());
                    prop_assert!(names.contains(&name));
                }
            }
        }

        #[test]
        fn any_changed_byte_of_a_key_changes_its_hash(at in any::<usize>(), mask in 1u8..=127) {
            let key = ApiKeySecret::generate().unwrap();
            // A generated key is acceptable where operators supply keys.
            let supplied = ApiKeySecret::supplied(key.expose()).unwrap();
            prop_assert!(supplied.hash() == key.hash());
            let mut bytes = key.expose().as_bytes().to_vec();
            let i = at % bytes.len();
            bytes[i] ^= mask;
            let changed = String::from_utf8(bytes).unwrap();
            let other = ApiKeySecret::presented(&changed).hash();
            prop_assert!(!key.hash().ct_eq(other.as_bytes()));
            prop_assert!(other.ct_eq(other.as_bytes()));
        }

        #[test]
        fn arbitrary_presented_or_supplied_keys_never_panic(key in any::<String>()) {
            let presented = ApiKeySecret::presented(&key);
            prop_assert_eq!(presented.hash().as_bytes().len(), 32);
            prop_assert!(presented.display_prefix().chars().count() <= 12);
            let shown = format!("{presented:?}");
            prop_assert!(!shown.contains(&key) || key.chars().count() <= 12);
            if ApiKeySecret::supplied(&key).is_ok() {
                prop_assert!(key.starts_with(KEY_PREFIX) && key.len() >= MIN_SUPPLIED_KEY_LEN);
            }
        }
    }
}
