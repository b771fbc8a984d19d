//! The one source of the time for the registry and the provider's flows: the system clock in
//! production, a clock that moves only when told to in tests (expiry without sleeping).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The time in Unix seconds, as every flow and registry operation sees it. The system clock in production; a clock that
/// only moves when told to in tests of expiry, step-up and rotation (no sleeping).
#[derive(Debug, Clone)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at `at` until [`Clock::advance`] moves it.
    pub fn fixed(at: i64) -> Self {
        Self(Some(Arc::new(AtomicI64::new(at))))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        match &self.0 {
            None => time::OffsetDateTime::now_utc().unix_timestamp(),
            Some(at) => at.load(Ordering::SeqCst),
        }
    }

    /// Moves a fixed clock forward by `seconds` (the system clock cannot be moved).
    pub fn advance(&self, seconds: i64) {
        if let Some(at) = &self.0 {
            at.fetch_add(seconds, Ordering::SeqCst);
        }
    }
}
