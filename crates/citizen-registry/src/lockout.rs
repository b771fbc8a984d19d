//! Failed-attempt counting: lockout with exponential backoff.

/// After `free_attempts` consecutive failures, each further failure locks the account for
/// `base_delay_seconds`, doubling per failure up to `max_delay_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub free_attempts: i64,
    pub base_delay_seconds: i64,
    pub max_delay_seconds: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay_seconds: 30,
            max_delay_seconds: 3600,
        }
    }
}

impl LockoutPolicy {
    /// When the account unlocks after `failed_attempts` consecutive failures, if it is locked.
    pub fn locked_until(&self, failed_attempts: i64, now: i64) -> Option<i64> {
        if failed_attempts < self.free_attempts {
            return None;
        }
        let doublings = u32::try_from(failed_attempts - self.free_attempts)
            .unwrap_or(u32::MAX)
            .min(30);
        let delay = self
            .base_delay_seconds
            .saturating_mul(1_i64 << doublings)
            .min(self.max_delay_seconds);
        Some(now + delay)
    }

    /// The policy in the terms the store's attempt reservation computes it in, in SQL (see
    /// `store::attempts::lock_after_next`), so that the count and the lock move in one statement.
    pub(crate) fn curve(&self) -> LockCurve {
        let delay = |doublings: u32| {
            self.base_delay_seconds
                .saturating_mul(1_i64 << doublings)
                .min(self.max_delay_seconds)
        };
        let steady_delay = delay(30);
        let steady_from = (0..30).find(|d| delay(*d) == steady_delay).unwrap_or(30);
        LockCurve {
            free_attempts: self.free_attempts,
            base_delay_seconds: self.base_delay_seconds,
            max_delay_seconds: self.max_delay_seconds,
            steady_from: i64::from(steady_from),
            steady_delay,
        }
    }
}

/// [`LockoutPolicy::locked_until`] for `n` failures past the free ones: `steady_delay` from
/// `steady_from` on (the delay only grows, or shrinks, to that value), and before that
/// `base_delay_seconds << n` capped at `max_delay_seconds`, a shift that cannot overflow there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockCurve {
    pub free_attempts: i64,
    pub base_delay_seconds: i64,
    pub max_delay_seconds: i64,
    pub steady_from: i64,
    pub steady_delay: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_failures_do_not_lock() {
        let policy = LockoutPolicy::default();
        for failures in 0..5 {
            assert_eq!(policy.locked_until(failures, 100), None);
        }
    }

    #[test]
    fn delay_doubles_and_is_capped() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.locked_until(5, 100), Some(130));
        assert_eq!(policy.locked_until(6, 100), Some(160));
        assert_eq!(policy.locked_until(7, 100), Some(220));
        assert_eq!(policy.locked_until(40, 100), Some(3700));
    }

    /// What `store::attempts::lock_after_next` computes in SQL, step by step.
    fn curve_locked_until(curve: LockCurve, failures: i64, now: i64) -> Option<i64> {
        if failures < curve.free_attempts {
            return None;
        }
        let past = failures - curve.free_attempts;
        if past >= curve.steady_from {
            return Some(now + curve.steady_delay);
        }
        let shifted = curve
            .base_delay_seconds
            .checked_mul(1_i64 << past)
            .expect("no overflow before the steady delay");
        Some(now + shifted.min(curve.max_delay_seconds))
    }

    #[test]
    fn the_curve_computes_the_same_locks() {
        let policies = [
            LockoutPolicy::default(),
            LockoutPolicy {
                free_attempts: 1,
                base_delay_seconds: 0,
                max_delay_seconds: 3600,
            },
            LockoutPolicy {
                free_attempts: 3,
                base_delay_seconds: 7,
                max_delay_seconds: i64::MAX,
            },
            LockoutPolicy {
                free_attempts: 0,
                base_delay_seconds: 100,
                max_delay_seconds: 10,
            },
            LockoutPolicy {
                free_attempts: 2,
                base_delay_seconds: -5,
                max_delay_seconds: -40,
            },
            LockoutPolicy {
                free_attempts: 5,
                base_delay_seconds: i64::MAX / 3,
                max_delay_seconds: i64::MAX,
            },
        ];
        for policy in policies {
            let curve = policy.curve();
            for failures in -1..80 {
                assert_eq!(
                    curve_locked_until(curve, failures, 0),
                    policy.locked_until(failures, 0),
                    "{policy:?} at {failures}"
                );
            }
        }
        assert_eq!(LockoutPolicy::default().curve().steady_from, 7);
    }
}
