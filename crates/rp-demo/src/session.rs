//! Local sessions: who is logged in to this portal, keyed by a random id in a cookie.
//!
//! A session ends when the citizen logs out here, when Segl's back-channel logout names its
//! `sid` or `sub`, after [`IDLE_SECONDS`] without a request, or [`MAX_LIFETIME_SECONDS`] after
//! login (docs/NEMLOGIN.md section 4).

use crate::level::Level;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A session not used for this long is over.
pub(crate) const IDLE_SECONDS: i64 = 30 * 60;
/// No session outlives this, however busy.
pub(crate) const MAX_LIFETIME_SECONDS: i64 = 8 * 60 * 60;
/// Most sessions held at once (expired ones are swept first when full).
const DEFAULT_CAPACITY: usize = 200_000;

/// One logged-in citizen.
#[derive(Clone)]
pub struct Session {
    /// Shown on the pages: `name`, else given and family name, else a placeholder.
    pub name: String,
    /// The pairwise subject Segl gave this portal.
    pub subject: String,
    /// Segl's session id (`sid`), used by back-channel logout.
    pub sid: Option<String>,
    /// The `acr` URI of the login, and the level it names.
    pub acr: String,
    pub level: Level,
    /// Every claim of the ID token, as received.
    pub id_token_claims: Map<String, Value>,
    /// Every claim of the userinfo response, as received (empty if there was none).
    pub userinfo_claims: Map<String, Value>,
    /// The raw ID token, sent back as `id_token_hint` at logout.
    pub id_token: String,
    /// Guards the logout form against cross-site requests.
    pub csrf_token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Claims may hold a CPR number; tokens are bearer secrets. Neither goes to logs.
        formatter
            .debug_struct("Session")
            .field("subject", &self.subject)
            .field("sid", &self.sid)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A claim from userinfo, else from the ID token.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.userinfo_claims
            .get(name)
            .or_else(|| self.id_token_claims.get(name))
    }
}

struct Entry {
    session: Session,
    created_at: i64,
    last_seen: i64,
}

impl Entry {
    fn is_live(&self, now: i64) -> bool {
        now - self.last_seen < IDLE_SECONDS && now - self.created_at < MAX_LIFETIME_SECONDS
    }
}

/// The in-memory session table.
pub(crate) struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

/// The session table is full of live sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many sessions")]
pub(crate) struct TooManySessions;

impl Sessions {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session under `id` (a fresh random value).
    pub(crate) fn insert(
        &self,
        id: String,
        session: Session,
        now: i64,
    ) -> Result<(), TooManySessions> {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.is_live(now));
        }
        if entries.len() >= self.capacity {
            return Err(TooManySessions);
        }
        entries.insert(
            id,
            Entry {
                session,
                created_at: now,
                last_seen: now,
            },
        );
        Ok(())
    }

    /// The live session under `id`, marked as used now; an expired one is removed.
    pub(crate) fn find(&self, id: &str, now: i64) -> Option<Session> {
        let mut entries = self.lock();
        let entry = entries.get_mut(id)?;
        if !entry.is_live(now) {
            entries.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends the session under `id`, returning it if it was there.
    pub(crate) fn remove(&self, id: &str) -> Option<Session> {
        self.lock().remove(id).map(|entry| entry.session)
    }

    /// Back-Channel Logout 1.0 2.7: ends every session with Segl's session id `sid` (when given)
    /// and subject `sub` (when given). Returns how many ended.
    pub(crate) fn remove_for_logout(&self, sid: Option<&str>, sub: Option<&str>) -> usize {
        if sid.is_none() && sub.is_none() {
            return 0;
        }
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, entry| {
            let session = &entry.session;
            let sid_matches = sid.is_none_or(|sid| session.sid.as_deref() == Some(sid));
            let sub_matches = sub.is_none_or(|sub| session.subject == sub);
            !(sid_matches && sub_matches)
        });
        before - entries.len()
    }

    /// Drops every expired session.
    pub(crate) fn sweep(&self, now: i64) {
        self.lock().retain(|_, entry| entry.is_live(now));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
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

    fn session(subject: &str, sid: Option<&str>) -> Session {
        Session {
            name: "Anna Jensen".to_owned(),
            subject: subject.to_owned(),
            sid: sid.map(str::to_owned),
            acr: Level::Low.uri().to_owned(),
            level: Level::Low,
            id_token_claims: Map::new(),
            userinfo_claims: Map::new(),
            id_token: "header.payload.signature".to_owned(),
            csrf_token: "csrf".to_owned(),
        }
    }

    #[test]
    fn a_session_is_found_until_it_is_idle_too_long() {
        let sessions = Sessions::default();
        sessions
            .insert("s1".to_owned(), session("sub-1", None), NOW)
            .unwrap();
        assert!(sessions.find("s1", NOW + IDLE_SECONDS - 1).is_some());
        // The find above counts as use, so the idle clock restarted.
        assert!(sessions.find("s1", NOW + 2 * IDLE_SECONDS - 2).is_some());
        assert!(sessions.find("s1", NOW + 3 * IDLE_SECONDS).is_none());
        assert!(sessions.is_empty());
    }

    #[test]
    fn a_busy_session_still_ends_at_the_absolute_cap() {
        let sessions = Sessions::default();
        sessions
            .insert("s1".to_owned(), session("sub-1", None), NOW)
            .unwrap();
        let mut now = NOW;
        while now < NOW + MAX_LIFETIME_SECONDS - 60 {
            now += 60;
            assert!(sessions.find("s1", now).is_some());
        }
        assert!(sessions.find("s1", NOW + MAX_LIFETIME_SECONDS).is_none());
    }

    #[test]
    fn back_channel_logout_by_sid_ends_only_that_session() {
        let sessions = Sessions::default();
        sessions
            .insert("s1".to_owned(), session("sub-1", Some("sid-1")), NOW)
            .unwrap();
        sessions
            .insert("s2".to_owned(), session("sub-1", Some("sid-2")), NOW)
            .unwrap();
        assert_eq!(sessions.remove_for_logout(Some("sid-1"), None), 1);
        assert!(sessions.find("s1", NOW).is_none());
        assert!(sessions.find("s2", NOW).is_some());
    }

    #[test]
    fn back_channel_logout_by_sub_ends_every_session_of_the_citizen() {
        let sessions = Sessions::default();
        sessions
            .insert("s1".to_owned(), session("sub-1", Some("sid-1")), NOW)
            .unwrap();
        sessions
            .insert("s2".to_owned(), session("sub-1", Some("sid-2")), NOW)
            .unwrap();
        sessions
            .insert("s3".to_owned(), session("sub-2", Some("sid-3")), NOW)
            .unwrap();
        assert_eq!(sessions.remove_for_logout(None, Some("sub-1")), 2);
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn back_channel_logout_with_sid_and_sub_needs_both_to_match() {
        let sessions = Sessions::default();
        sessions
            .insert("s1".to_owned(), session("sub-1", Some("sid-1")), NOW)
            .unwrap();
        assert_eq!(sessions.remove_for_logout(Some("sid-1"), Some("sub-2")), 0);
        assert_eq!(sessions.remove_for_logout(Some("sid-1"), Some("sub-1")), 1);
        assert_eq!(sessions.remove_for_logout(None, None), 0);
    }
}
