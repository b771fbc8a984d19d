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
}
