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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
