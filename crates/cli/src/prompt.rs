//! Asking on a terminal for what the command line left out.
//!
//! Only when stdin is a terminal: a script (no terminal) gets a usage error
//! (exit 2) naming the missing flag instead of a prompt that would hang.
//! Questions go to stderr so that stdout stays the command's output; secrets
//! are read without echo (`rpassword`, from the controlling terminal).

use std::io::{BufRead, IsTerminal, Write};

use crate::failure::Failure;

/// True when there is a person to ask.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

/// The usage error for a value that is missing and cannot be asked for.
pub fn missing(what: &str) -> Failure {
    Failure::usage(format!("missing {what}; stdin is not a terminal to ask on"))
}

/// Asks one question; an empty answer takes `default`.
pub fn ask(question: &str, default: Option<&str>) -> Result<String, Failure> {
    for _ in 0..3 {
        {
            let mut err = std::io::stderr().lock();
            match default {
                Some(d) => write!(err, "{question} [{d}]: ")?,
                None => write!(err, "{question}: ")?,
            }
            err.flush()?;
        }
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(Failure::usage(format!("no answer to {question:?}")));
        }
        let answer = line.trim();
        match (answer.is_empty(), default) {
            (false, _) => return Ok(answer.to_string()),
            (true, Some(d)) => return Ok(d.to_string()),
            (true, None) => continue,
        }
    }
    Err(Failure::usage(format!("no answer to {question:?}")))
}

/// Asks for a secret without echoing it.
pub fn ask_secret(question: &str) -> Result<String, Failure> {
    let answer = rpassword::prompt_password(format!("{question}: "))
        .map_err(|e| Failure::error(format!("cannot read from the terminal: {e}")))?;
    let answer = answer.trim().to_string();
    if answer.is_empty() {
        return Err(Failure::usage(format!("no answer to {question:?}")));
    }
    Ok(answer)
}
