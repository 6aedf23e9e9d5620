//! The ids of endpoints and deliveries: a prefix and 32 lowercase hex
//! digits (a UUIDv7), checked once when parsed.

use std::fmt;

macro_rules! prefixed_id {
    ($name:ident, $prefix:literal, $what:literal) => {
        #[doc = concat!("A ", $what, " id, `", $prefix, "` and 32 lowercase hex digits.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn parse(s: &str) -> Result<Self, IdError> {
                let hex = s.strip_prefix($prefix).ok_or(IdError {
                    what: $what,
                    prefix: $prefix,
                })?;
                if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(IdError {
                        what: $what,
                        prefix: $prefix,
                    })
                }
            }

            /// The id of these 16 bytes (a fresh UUIDv7's).
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                Self(format!("{}{hex}", $prefix))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(EndpointId, "whep_", "webhook endpoint");
prefixed_id!(DeliveryId, "whdl_", "webhook delivery");
prefixed_id!(MessageId, "msg_", "webhook message");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a {what} id: {prefix} and 32 lowercase hex digits")]
pub struct IdError {
    what: &'static str,
    prefix: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_other_forms_are_refused() {
        let id = EndpointId::from_bytes([0xab; 16]);
        assert_eq!(EndpointId::parse(id.as_str()).unwrap(), id);
        assert!(id.as_str().starts_with("whep_"));
        assert!(EndpointId::parse("whdl_abababababababababababababababab").is_err());
        assert!(EndpointId::parse("whep_ABABABABABABABABABABABABABABABAB").is_err());
        assert!(DeliveryId::parse("whdl_ab").is_err());
    }
}
