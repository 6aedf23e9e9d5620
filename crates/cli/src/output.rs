//! Printing: human lines by default, the server's JSON with `--json`.
//!
//! Everything meant for stdout goes through [`say!`], which never panics: a
//! closed pipe (`hallctl … | head -1`) ends the process quietly, any other
//! write error ends it with one line on stderr.

use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// Writes one line to stdout.
pub fn print_line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let _ = writeln!(
                std::io::stderr(),
                "hallctl: cannot write to standard output: {e}"
            );
        }
        std::process::exit(i32::from(crate::failure::exit::ERROR));
    }
}

/// Writes one line to stderr (hints and warnings; never data).
pub fn print_note(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{args}");
}

macro_rules! say {
    ($($arg:tt)*) => { $crate::output::print_line(format_args!($($arg)*)) };
}
macro_rules! note {
    ($($arg:tt)*) => { $crate::output::print_note(format_args!($($arg)*)) };
}
pub(crate) use {note, say};

/// Human output or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// With `--json`, prints `value` and returns true (the caller prints
    /// nothing else); without, returns false.
    pub fn json(&self, value: &Value) -> bool {
        if self.json {
            say!("{}", pretty(value));
        }
        self.json
    }
}

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A time as the registry sends it (RFC 3339, UTC, `Z`).
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An optional time, or `-` when absent.
pub fn time_or_dash(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), time)
}

/// Strings, comma-separated (`-` when there are none).
pub fn joined(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

/// The items of an array field (none when absent).
pub fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}
