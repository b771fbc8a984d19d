//! Logins in flight: the `state`, `nonce` and PKCE verifier of each authorization request,
//! kept server-side under a random id that the browser holds in a short-lived cookie.
//!
//! An entry is taken out when the callback arrives (one use) and is worthless after
//! [`PENDING_LIFETIME_SECONDS`].

use crate::level::Level;
use crate::page::ReturnPage;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// How long a login may take, from `/login` to `/callback`.
pub(crate) const PENDING_LIFETIME_SECONDS: i64 = 600;
/// Most logins in flight at once; beyond this, expired entries are swept and, if still full,
/// new logins are refused rather than letting memory grow without bound.
const DEFAULT_CAPACITY: usize = 100_000;

/// What the portal must remember between sending the citizen to Segl and their return.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// The level the page asked for; the ID token's `acr` must be at least this.
    pub level: Level,
    /// Where to send the citizen after login.
    pub return_to: ReturnPage,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verifier and nonce are secrets of the flow; keep them out of logs.
        formatter
            .debug_struct("PendingLogin")
            .field("level", &self.level)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// The store is full of unexpired logins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many logins in progress")]
pub(crate) struct TooManyPendingLogins;

struct Entry {
    login: PendingLogin,
    expires_at: i64,
}

/// The in-memory map of logins in flight, keyed by the cookie's random id.
pub(crate) struct PendingLogins {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl Default for PendingLogins {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl PendingLogins {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Remembers `login` under `id` (a fresh random value) until `now + PENDING_LIFETIME_SECONDS`.
    pub(crate) fn insert(
        &self,
        id: String,
        login: PendingLogin,
        now: i64,
    ) -> Result<(), TooManyPendingLogins> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.expires_at > now);
        }
        if entries.len() >= self.capacity {
            return Err(TooManyPendingLogins);
        }
        entries.insert(
            id,
            Entry {
                login,
                expires_at: now + PENDING_LIFETIME_SECONDS,
            },
        );
        Ok(())
    }

    /// Takes the login out (it can be used once) if it exists and has not expired.
    pub(crate) fn take(&self, id: &str, now: i64) -> Option<PendingLogin> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.remove(id)?;
        (entry.expires_at > now).then_some(entry.login)
    }

    /// Drops every expired entry (called now and then so abandoned logins do not pile up).
    pub(crate) fn sweep(&self, now: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|_, entry| entry.expires_at > now);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn login() -> PendingLogin {
        PendingLogin {
            state: "state-1".to_owned(),
            nonce: "nonce-1".to_owned(),
            pkce_verifier: "verifier-1".to_owned(),
            level: Level::Low,
            return_to: ReturnPage::Home,
        }
    }

    #[test]
    fn a_pending_login_can_be_taken_once() {
        let store = PendingLogins::default();
        store.insert("id-1".to_owned(), login(), NOW).unwrap();
        assert_eq!(store.take("id-1", NOW + 5), Some(login()));
        assert_eq!(store.take("id-1", NOW + 6), None);
    }

    #[test]
    fn a_pending_login_expires_after_ten_minutes() {
        let store = PendingLogins::default();
        store.insert("id-1".to_owned(), login(), NOW).unwrap();
        store.insert("id-2".to_owned(), login(), NOW).unwrap();
        assert_eq!(store.take("id-1", NOW + 599), Some(login()));
        assert_eq!(store.take("id-2", NOW + 600), None);
    }

    #[test]
    fn an_expired_login_is_gone_even_after_a_failed_take() {
        let store = PendingLogins::default();
        store.insert("id-1".to_owned(), login(), NOW).unwrap();
        assert_eq!(store.take("id-1", NOW + 601), None);
        assert!(store.is_empty());
    }

    #[test]
    fn an_unknown_id_yields_nothing() {
        let store = PendingLogins::default();
        store.insert("id-1".to_owned(), login(), NOW).unwrap();
        assert_eq!(store.take("id-2", NOW), None);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_full_store_sweeps_expired_entries_then_refuses() {
        let store = PendingLogins::with_capacity(2);
        store.insert("old".to_owned(), login(), NOW).unwrap();
        store.insert("new".to_owned(), login(), NOW + 500).unwrap();
        // "old" has expired by now + 700, so there is room again.
        store
            .insert("newer".to_owned(), login(), NOW + 700)
            .unwrap();
        assert_eq!(
            store.insert("newest".to_owned(), login(), NOW + 700),
            Err(TooManyPendingLogins)
        );
        assert_eq!(store.take("old", NOW + 700), None);
    }

    #[test]
    fn sweeping_keeps_live_entries() {
        let store = PendingLogins::default();
        store.insert("old".to_owned(), login(), NOW).unwrap();
        store.insert("new".to_owned(), login(), NOW + 300).unwrap();
        store.sweep(NOW + 650);
        assert_eq!(store.len(), 1);
        assert!(store.take("new", NOW + 650).is_some());
    }
}
