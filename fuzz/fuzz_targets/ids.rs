//! WCP ids and vocabulary from arbitrary text: no panic, and whatever is
//! accepted prints back exactly as given and keeps the grammar.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wcp::{
    BlastRadius, CapabilityId, ControlId, DataLabel, Env, Namespace, PolicyId, ProfileId, RiskTier,
    SpeciesId, TenantId, Visibility, WorkerId,
};

/// The WCP grammar, written out independently of the constructors.
fn grammar(s: &str, max_len: usize, segments: std::ops::RangeInclusive<usize>) -> bool {
    s.len() <= max_len
        && segments.contains(&s.split('.').count())
        && s.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

macro_rules! check {
    ($ty:ty, $s:expr, $max:expr, $segments:expr) => {
        if let Ok(id) = <$ty>::parse($s) {
            assert_eq!(id.to_string(), $s);
            assert!(grammar($s, $max, $segments), "{:?} accepted", $s);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(serde_json::from_str::<$ty>(&json).unwrap(), id);
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check!(TenantId, s, 64, 2..=4);
    check!(CapabilityId, s, 64, 2..=4);
    check!(SpeciesId, s, 64, 2..=4);
    check!(ControlId, s, 64, 2..=4);
    check!(ProfileId, s, 64, 2..=4);
    check!(PolicyId, s, 64, 2..=4);
    check!(Namespace, s, 64, 2..=2);
    check!(WorkerId, s, 128, 3..=4);
    if let Ok(w) = WorkerId::parse(s) {
        assert_eq!(format!("{}.{}", w.namespace(), w.local_name()), s);
    }
    if let Ok(e) = Env::parse(s) {
        assert_eq!(Env::parse(e.as_str()), Ok(e));
    }
    for ok in [
        DataLabel::parse(s).map(|v| v.as_str()),
        RiskTier::parse(s).map(|v| v.as_str()),
        Visibility::parse(s).map(|v| v.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        assert!(s.eq_ignore_ascii_case(ok));
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
        if let Ok(b) = BlastRadius::from_json(&v) {
            assert!(b.score() <= 25);
        }
    }
});
