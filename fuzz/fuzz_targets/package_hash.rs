//! The package hash over arbitrary file lists: no panic, a 64-hex result,
//! and neither file order nor excluded files change it.
#![no_main]

use attestation::package::{is_hashed, is_sha256_hex, package_hash, PackageFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|files: Vec<(String, Vec<u8>)>| {
    // Distinct paths, as a directory has them.
    let mut seen = std::collections::HashSet::new();
    let files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(p, _)| seen.insert(p.clone()))
        .collect();
    let hash = |list: &[(String, Vec<u8>)]| {
        package_hash(list.iter().map(|(p, c)| PackageFile {
            relative_path: p,
            content: c,
        }))
    };
    let forward = hash(&files);
    assert!(is_sha256_hex(&forward));
    let mut reversed = files.clone();
    reversed.reverse();
    assert_eq!(hash(&reversed), forward);
    let kept: Vec<_> = files
        .iter()
        .filter(|(p, _)| is_hashed(p))
        .cloned()
        .collect();
    assert_eq!(hash(&kept), forward);
});
