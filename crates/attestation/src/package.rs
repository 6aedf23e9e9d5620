//! The canonical package hash of a worker package, byte-identical with the
//! PyHall SDK's `canonical_package_hash`:
//!
//! SHA-256 (lowercase hex) over one record per file,
//! `<relative_posix_path>\n<size_bytes>\n<sha256_hex_of_content>\n`, in path
//! order. Excluded: any path with a component named `.git`, `__pycache__`,
//! `.DS_Store`, `manifest.json`, `manifest.sig` or `manifest.tmp`, and every
//! path ending in `.pyc`.
//!
//! Order: the SDK sorts `pathlib.Path` objects, which compare component by
//! component; so does [`compare_paths`]. (It differs from sorting the joined
//! strings when a name is a prefix of a sibling's: `code/x.py` sorts before
//! `code.txt` here, as in the SDK.)
//!
//! Pure: the caller walks the directory and hands over the files.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

/// Names that exclude a path wherever they appear in it.
pub const EXCLUDED_NAMES: [&str; 6] = [
    ".git",
    "__pycache__",
    ".DS_Store",
    "manifest.json",
    "manifest.sig",
    "manifest.tmp",
];

/// Whether a relative POSIX path takes part in the hash.
pub fn is_hashed(relative_path: &str) -> bool {
    !relative_path.ends_with(".pyc")
        && !relative_path
            .split('/')
            .any(|part| EXCLUDED_NAMES.contains(&part))
}

/// Component-wise order of relative POSIX paths (Python's `PurePosixPath` order).
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// One file of a package: its path relative to the package root (POSIX
/// separators, no leading `./`) and its content.
pub struct PackageFile<'a> {
    pub relative_path: &'a str,
    pub content: &'a [u8],
}

/// The canonical package hash over `files` (in any order; excluded files are skipped).
pub fn package_hash<'a>(files: impl IntoIterator<Item = PackageFile<'a>>) -> String {
    let mut files: Vec<PackageFile<'a>> = files
        .into_iter()
        .filter(|f| is_hashed(f.relative_path))
        .collect();
    files.sort_by(|a, b| compare_paths(a.relative_path, b.relative_path));
    let mut outer = Sha256::new();
    for f in files {
        outer.update(f.relative_path.as_bytes());
        outer.update(b"\n");
        outer.update(f.content.len().to_string().as_bytes());
        outer.update(b"\n");
        outer.update(hex(&Sha256::digest(f.content)).as_bytes());
        outer.update(b"\n");
    }
    hex(&outer.finalize())
}

use wcp::canonical::hex;

/// Whether `s` is a SHA-256 as the API takes it: 64 lowercase hex characters.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<'a>(p: &'a str, c: &'a [u8]) -> PackageFile<'a> {
        PackageFile {
            relative_path: p,
            content: c,
        }
    }

    // Vectors computed with an independent Python implementation of the
    // contract (tests/e2e/test_package_hash.py runs it against hallctl too).
    #[test]
    fn empty_package_hashes_the_empty_string() {
        assert_eq!(
            package_hash(Vec::new()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn one_file_record_is_path_size_and_content_hash() {
        // sha256("a.txt\n5\n" + sha256("hello") + "\n")
        let content_hash = hex(&Sha256::digest(b"hello"));
        let expected = hex(&Sha256::digest(
            format!("a.txt\n5\n{content_hash}\n").as_bytes(),
        ));
        assert_eq!(package_hash(vec![f("a.txt", b"hello")]), expected);
    }

    #[test]
    fn order_is_component_wise_and_input_order_does_not_matter() {
        let a = package_hash(vec![f("code.txt", b"1"), f("code/x.py", b"2"), f("a", b"")]);
        let b = package_hash(vec![f("code/x.py", b"2"), f("a", b""), f("code.txt", b"1")]);
        assert_eq!(a, b);
        assert_eq!(compare_paths("code/x.py", "code.txt"), Ordering::Less);
        assert_eq!(compare_paths("a/b", "a-b"), Ordering::Less);
        assert_eq!(compare_paths("b", "a/z"), Ordering::Greater);
    }

    #[test]
    fn every_excluded_name_is_skipped_at_any_depth() {
        let base = package_hash(vec![f("code/main.py", b"print(1)\n")]);
        for excluded in [
            "manifest.json",
            "manifest.sig",
            "manifest.tmp",
            ".DS_Store",
            "code/.DS_Store",
            ".git/HEAD",
            "sub/.git/config",
            "__pycache__/x.cpython-311.pyc",
            "code/__pycache__/notes.txt",
            "code/main.pyc",
            "deep/manifest.json",
            "manifest.json/inner.txt",
        ] {
            let with = package_hash(vec![f("code/main.py", b"print(1)\n"), f(excluded, b"x")]);
            assert_eq!(with, base, "{excluded} changed the hash");
        }
        // Near misses are hashed.
        for kept in ["manifest.jsonx", "git/HEAD", "main.pyc.txt", "pycache/x"] {
            assert_ne!(
                package_hash(vec![f("code/main.py", b"print(1)\n"), f(kept, b"x")]),
                base,
                "{kept}"
            );
        }
    }

    #[test]
    fn empty_files_and_non_ascii_names_are_hashed_as_utf8() {
        let h = package_hash(vec![f("données/é.txt", b""), f("z", b"")]);
        let empty = hex(&Sha256::digest(b""));
        let expected = hex(&Sha256::digest(
            format!("données/é.txt\n0\n{empty}\nz\n0\n{empty}\n").as_bytes(),
        ));
        assert_eq!(h, expected);
    }

    #[test]
    fn sha256_hex_must_be_64_lowercase_hex() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
        assert!(!is_sha256_hex(&"g".repeat(64)));
    }
}

/// Properties the package hash promises: it depends on the set of hashed
/// files, never on their order or on excluded files, and on every byte of
/// every hashed path and content.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Relative paths from a small alphabet, so that prefixes, shared
    /// directories and excluded names come up often.
    fn path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "[a-c]{1,3}",
                "[a-c]{1,2}\\.(py|txt|pyc)",
                Just(".git".to_string()),
                Just("__pycache__".to_string()),
                Just("manifest.json".to_string()),
                Just("é".to_string()),
            ],
            1..4,
        )
        .prop_map(|parts| parts.join("/"))
    }

    /// A package: distinct paths with contents.
    fn package() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        prop::collection::btree_map(path(), prop::collection::vec(any::<u8>(), 0..16), 0..8)
            .prop_map(|m| m.into_iter().collect())
    }

    fn hash_of(files: &[(String, Vec<u8>)]) -> String {
        package_hash(files.iter().map(|(p, c)| PackageFile {
            relative_path: p,
            content: c,
        }))
    }

    proptest! {
        #[test]
        fn the_hash_does_not_depend_on_file_order(
            files in package(),
            order in any::<prop::sample::Index>(),
            seed in any::<u64>(),
        ) {
            let mut shuffled = files.clone();
            // A deterministic permutation from the generated numbers.
            let n = shuffled.len().max(1);
            let mut s = seed;
            for i in (1..shuffled.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (s >> 33) as usize % (i + 1));
            }
            shuffled.rotate_left(order.index(n) % n);
            prop_assert_eq!(hash_of(&shuffled), hash_of(&files));
            prop_assert!(is_sha256_hex(&hash_of(&files)));
        }

        #[test]
        fn excluded_files_never_change_the_hash(files in package()) {
            let kept: Vec<_> = files.iter().filter(|(p, _)| is_hashed(p)).cloned().collect();
            prop_assert_eq!(hash_of(&kept), hash_of(&files));
            for (p, _) in &files {
                let excluded = p.ends_with(".pyc") || p.split('/').any(|c| EXCLUDED_NAMES.contains(&c));
                prop_assert_eq!(is_hashed(p), !excluded);
            }
        }

        #[test]
        fn any_changed_byte_of_a_hashed_file_changes_the_hash(
            files in package(),
            which in any::<prop::sample::Index>(),
            at in any::<usize>(),
            mask in 1u8..=255,
            grow in any::<bool>(),
        ) {
            let hashed: Vec<usize> = (0..files.len()).filter(|i| is_hashed(&files[*i].0)).collect();
            prop_assume!(!hashed.is_empty());
            let i = hashed[which.index(hashed.len())];
            let mut changed = files.clone();
            let content = &mut changed[i].1;
            if grow || content.is_empty() {
                content.push(mask);
            } else {
                let j = at % content.len();
                content[j] ^= mask;
            }
            prop_assert_ne!(hash_of(&changed), hash_of(&files));
            // Renaming a hashed file (to a name not yet used) changes it too.
            let mut renamed = files.clone();
            renamed[i].0.push('x');
            prop_assume!(!files.iter().any(|(p, _)| *p == renamed[i].0) && is_hashed(&renamed[i].0));
            prop_assert_ne!(hash_of(&renamed), hash_of(&files));
        }

        #[test]
        fn a_directory_sorts_as_one_block_and_the_order_is_total(a in path(), b in path(), c in path()) {
            prop_assert_eq!(compare_paths(&a, &b), compare_paths(&b, &a).reverse());
            prop_assert_eq!(compare_paths(&a, &b) == Ordering::Equal, a == b);
            // Two files under one top-level directory sit on the same side of
            // any path outside it: `code/x.py` and `code/y.py` both sort
            // before `code.txt`, whatever their names.
            let top = |p: &str| p.split('/').next().unwrap_or_default().to_string();
            if a.contains('/') && b.contains('/') && top(&a) == top(&b) && top(&c) != top(&a) {
                prop_assert_eq!(compare_paths(&a, &c), compare_paths(&b, &c));
            }
            if compare_paths(&a, &b) == Ordering::Less && compare_paths(&b, &c) == Ordering::Less {
                prop_assert_eq!(compare_paths(&a, &c), Ordering::Less);
            }
        }
    }
}
