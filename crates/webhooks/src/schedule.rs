//! When a failed delivery is tried again: exponential backoff with jitter.
//! The default schedule waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h
//! between its eight attempts — about 27.6 hours of trying, past the 24
//! hours a receiver's outage may last — after which the delivery is failed.
//! The operator (and tests) may set another (`HALL_WEBHOOK_RETRY_SCHEDULE`).

use std::time::Duration;

/// Seconds between attempts, after the first (immediate) one.
pub const DEFAULT_SCHEDULE: &[u64] = &[5, 300, 1800, 7200, 18000, 36000, 36000];

/// How much a wait is lengthened at random, at most, as a fraction of it.
/// Only ever lengthened: the schedule's total is the least time a delivery
/// is tried for (the default's 27.6 h stays above 24 h).
pub const JITTER: f64 = 0.2;

/// The longest wait a schedule may list (a week): longer ones would be no
/// retry at all, and could overflow the time they are added to.
pub const MAX_WAIT: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("a retry schedule is a comma-separated list of whole seconds, e.g. 5,300,1800; {0:?} is not")]
    NotSeconds(String),
    #[error("a retry schedule may list at most 30 waits")]
    TooLong,
    #[error("a retry wait may be at most 604800 seconds (7 days); {0} is longer")]
    WaitTooLong(u64),
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            waits: DEFAULT_SCHEDULE
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }
}

impl std::str::FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// `5,300,1800`: the seconds waited before each retry. Empty: no retry.
    fn from_str(s: &str) -> Result<Self, ScheduleError> {
        let waits = s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let secs = p
                    .parse::<u64>()
                    .map_err(|_| ScheduleError::NotSeconds(p.to_string()))?;
                let wait = Duration::from_secs(secs);
                if wait > MAX_WAIT {
                    return Err(ScheduleError::WaitTooLong(secs));
                }
                Ok(wait)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if waits.len() > 30 {
            return Err(ScheduleError::TooLong);
        }
        Ok(Self { waits })
    }
}

impl RetrySchedule {
    /// Attempts in all (the first one and every retry).
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.waits.len() + 1).unwrap_or(u32::MAX)
    }

    /// How long all the waits add up to.
    pub fn total(&self) -> Duration {
        self.waits.iter().sum()
    }

    /// The wait after the `attempts_made`-th failed attempt, lengthened by
    /// `jitter` (a number in [0, 1), drawn by the caller) times [`JITTER`];
    /// `None` when the schedule is done and the delivery is failed.
    pub fn next_wait(&self, attempts_made: u32, jitter: f64) -> Option<Duration> {
        let i = usize::try_from(attempts_made.checked_sub(1)?).ok()?;
        let base = *self.waits.get(i)?;
        let factor = 1.0 + JITTER * jitter.clamp(0.0, 1.0);
        Some(base.mul_f64(factor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_keeps_trying_for_more_than_a_day() {
        let s = RetrySchedule::default();
        assert!(s.total() >= Duration::from_secs(24 * 3600));
        // Even with no wait lengthened by the jitter.
        let shortest: Duration = (1..s.attempts()).filter_map(|n| s.next_wait(n, 0.0)).sum();
        assert!(shortest >= Duration::from_secs(24 * 3600), "{shortest:?}");
        assert_eq!(s.attempts(), 8);
    }

    #[test]
    fn waits_grow_move_within_the_jitter_and_end() {
        let s: RetrySchedule = "10,100".parse().unwrap();
        assert_eq!(s.next_wait(1, 0.0), Some(Duration::from_secs(10)));
        assert_eq!(s.next_wait(1, 0.5), Some(Duration::from_secs(11)));
        assert!(s.next_wait(1, 0.999).unwrap() < Duration::from_secs(12));
        assert_eq!(s.next_wait(2, 0.0), Some(Duration::from_secs(100)));
        assert_eq!(s.next_wait(3, 0.5), None);
        assert_eq!(s.next_wait(0, 0.5), None);
    }

    #[test]
    fn a_schedule_is_read_from_seconds() {
        let s: RetrySchedule = "1, 2,3".parse().unwrap();
        assert_eq!(s.attempts(), 4);
        let none: RetrySchedule = "".parse().unwrap();
        assert_eq!(none.attempts(), 1);
        assert!("1,x".parse::<RetrySchedule>().is_err());
        assert_eq!(
            "5,604801".parse::<RetrySchedule>(),
            Err(ScheduleError::WaitTooLong(604_801))
        );
        assert!("604800".parse::<RetrySchedule>().is_ok());
    }
}
