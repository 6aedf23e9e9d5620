//! How a command ends, and the exit code each ending maps to.
//!
//! 0: done (for `decision make`: allowed); 1: an error (the registry refused
//! the request or could not be reached, a file could not be read); 2: usage
//! (a missing or contradictory argument, nothing was sent; clap's own parse
//! errors use 2 as well); 3: denied (the registry said no: a denied
//! decision, a denied attestation, a banned hash, a `rules test` with a
//! difference).

/// The exit codes, as `hallctl --help` and `docs/cli.md` list them.
pub mod exit {
    pub const ERROR: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const DENIED: u8 = 3;
}

/// How a command ended when nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Done,
    /// Exit 3: the registry answered, and the answer is no.
    Denied,
}

/// A failure worth one line on stderr.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1.
    Error(String),
    /// Exit 2: the command line is incomplete; nothing was sent.
    Usage(String),
}

impl Failure {
    pub fn error(message: impl Into<String>) -> Self {
        Failure::Error(message.into())
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }
}

// `Failure` deliberately has no `Display`, so that every displayable error
// (I/O, JSON, HTTP) converts with `?`.
impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

/// What every command returns.
pub type CmdResult = Result<Outcome, Failure>;
