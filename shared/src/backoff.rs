//! Retry timing: exponential backoff with full jitter, applied through the SQS message's
//! visibility timeout. The queue's redrive policy (`maxReceiveCount`) is the hard cap; this
//! policy's `max_attempts` must equal it so the handler knows when an attempt is the last.

use std::time::Duration;

/// SQS refuses visibility timeouts over 12 hours.
pub const SQS_MAX_VISIBILITY: Duration = Duration::from_secs(43_200);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay.
    pub base: Duration,
    /// Growth of the ceiling per attempt.
    pub factor: f64,
    /// No delay ceiling exceeds this (nor [`SQS_MAX_VISIBILITY`]).
    pub cap: Duration,
    /// Deliveries before a transaction needs review; equal to the queue's `maxReceiveCount`.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackoffError {
    #[error("backoff base must be at least 1 second (SQS visibility has whole seconds), got {0:?}")]
    BaseTooSmall(Duration),
    #[error("backoff factor must be at least 1, got {0}")]
    FactorTooSmall(String),
    #[error("backoff cap {cap:?} must be between the base {base:?} and 12 hours")]
    CapOutOfRange { base: Duration, cap: Duration },
    #[error("max attempts must be between 1 and 1000, got {0}")]
    Attempts(u32),
}

/// The delay chosen for one retry, with the ceiling it was drawn under (kept in the history so
/// the growth and the jitter are visible).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryDelay {
    pub delay: Duration,
    pub ceiling: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            factor: 2.0,
            cap: Duration::from_secs(900),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    pub fn new(
        base: Duration,
        factor: f64,
        cap: Duration,
        max_attempts: u32,
    ) -> Result<Self, BackoffError> {
        if base < Duration::from_secs(1) {
            return Err(BackoffError::BaseTooSmall(base));
        }
        if !(factor >= 1.0 && factor.is_finite()) {
            return Err(BackoffError::FactorTooSmall(factor.to_string()));
        }
        if cap < base || cap > SQS_MAX_VISIBILITY {
            return Err(BackoffError::CapOutOfRange { base, cap });
        }
        if !(1..=1000).contains(&max_attempts) {
            return Err(BackoffError::Attempts(max_attempts));
        }
        Ok(Backoff {
            base,
            factor,
            cap,
            max_attempts,
        })
    }

    /// The ceiling after the `attempt`-th failed delivery (1-based): `base · factor^(attempt-1)`,
    /// capped. Monotone in `attempt`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1_000) as i32;
        let secs = self.base.as_secs_f64() * self.factor.powi(exponent);
        let cap = self.cap.min(SQS_MAX_VISIBILITY);
        if !secs.is_finite() || secs >= cap.as_secs_f64() {
            cap
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// Full jitter: uniform in `[0, ceiling]`, rounded up to whole seconds (SQS's unit).
    pub fn delay(&self, attempt: u32, unit_random: f64) -> RetryDelay {
        let ceiling = self.ceiling(attempt);
        let drawn = ceiling.as_secs_f64() * unit_random.clamp(0.0, 1.0);
        let delay =
            Duration::from_secs(drawn.ceil() as u64).min(ceiling.max(Duration::from_secs(1)));
        RetryDelay { delay, ceiling }
    }

    /// Whether the `attempt`-th delivery is the last one the queue will make.
    pub fn is_last(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Backoff {
        Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(60), 8).unwrap_or_default()
    }

    #[test]
    fn ceilings_grow_then_cap() {
        let p = policy();
        let ceilings: Vec<u64> = (1..=9).map(|a| p.ceiling(a).as_secs()).collect();
        assert_eq!(ceilings, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn invalid_policies_are_refused() {
        assert!(Backoff::new(Duration::from_millis(10), 2.0, Duration::from_secs(5), 3).is_err());
        assert!(Backoff::new(Duration::from_secs(1), 0.5, Duration::from_secs(5), 3).is_err());
        assert!(Backoff::new(Duration::from_secs(1), f64::NAN, Duration::from_secs(5), 3).is_err());
        assert!(Backoff::new(Duration::from_secs(10), 2.0, Duration::from_secs(5), 3).is_err());
        assert!(Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(50_000), 3).is_err());
        assert!(Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(5), 0).is_err());
    }

    #[test]
    fn the_last_attempt_is_the_queues_last_delivery() {
        let p = policy();
        assert!(!p.is_last(7));
        assert!(p.is_last(8));
        assert!(p.is_last(9));
    }

    proptest! {
        #[test]
        fn delays_stay_within_zero_and_the_ceiling(attempt in 1u32..2_000, r in 0.0f64..=1.0) {
            let p = policy();
            let RetryDelay { delay, ceiling } = p.delay(attempt, r);
            prop_assert!(delay <= ceiling.max(Duration::from_secs(1)));
            prop_assert!(ceiling <= p.cap);
            prop_assert!(delay <= SQS_MAX_VISIBILITY);
        }

        #[test]
        fn the_ceiling_is_monotone(attempt in 1u32..2_000, base in 1u64..100, factor in 1.0f64..10.0, cap in 100u64..43_200) {
            let p = Backoff::new(Duration::from_secs(base), factor, Duration::from_secs(cap), 10)
                .unwrap_or_else(|e| panic!("{e}"));
            prop_assert!(p.ceiling(attempt) <= p.ceiling(attempt + 1));
            prop_assert!(p.ceiling(attempt + 1) <= Duration::from_secs(cap));
        }

        #[test]
        fn jitter_spreads_over_the_range(attempt in 4u32..10) {
            let p = policy();
            let low = p.delay(attempt, 0.01).delay;
            let high = p.delay(attempt, 0.99).delay;
            prop_assert!(low < high, "{low:?} < {high:?}");
        }
    }
}
