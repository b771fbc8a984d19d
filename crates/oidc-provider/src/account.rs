//! The citizen's own page at the provider: their live SSO sessions, and ending any of them
//! (NEMLOGIN.md section 4). Reached with the SSO session cookie; nothing else is shown.

use crate::provider::{now, InternalError, Provider};
use crate::session::SsoSession;
use crate::tokens;
use subtle::ConstantTimeEq;

/// One session as the citizen sees it.
#[derive(Debug, Clone)]
pub struct SessionView {
    pub sid: String,
    pub started_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub level: &'static str,
    pub clients: Vec<String>,
    /// The session of the browser looking at the page.
    pub is_current: bool,
}

#[derive(Debug, Clone)]
pub struct AccountView {
    pub name: String,
    pub sessions: Vec<SessionView>,
    /// For the forms on the page: derived from the secret session cookie.
    pub csrf_token: String,
}

fn account_token(session_cookie: &str) -> String {
    tokens::sha256_hex(&format!("account:{session_cookie}"))
}

impl Provider {
    /// The browser's live session, if any.
    async fn live_session(
        &self,
        session_cookie: Option<&str>,
    ) -> Result<Option<SsoSession>, InternalError> {
        let Some(cookie) = session_cookie else {
            return Ok(None);
        };
        let session = self.store.find_session(&tokens::sha256_hex(cookie)).await?;
        Ok(session.filter(|session| session.is_live(&self.settings.session, now())))
    }

    /// The account page's content, or None when the browser has no live session.
    pub async fn account(
        &self,
        session_cookie: Option<&str>,
    ) -> Result<Option<AccountView>, InternalError> {
        let Some(current) = self.live_session(session_cookie).await? else {
            return Ok(None);
        };
        let Some(citizen) = self.active_citizen(current.citizen_id).await? else {
            return Ok(None);
        };
        let at = now();
        let mut sessions = Vec::new();
        for session in self.store.find_sessions_of(citizen.id, at).await? {
            if !session.is_live(&self.settings.session, at) {
                continue;
            }
            let mut clients = Vec::new();
            for client_id in self.store.find_session_clients(&session.sid).await? {
                let name = self
                    .store
                    .find_client(&client_id)
                    .await?
                    .map_or(client_id, |client| client.name);
                clients.push(name);
            }
            sessions.push(SessionView {
                is_current: session.sid == current.sid,
                expires_at: session.expires_at(&self.settings.session),
                level: session.aal.as_str(),
                started_at: session.auth_time,
                last_seen_at: session.last_seen_at,
                sid: session.sid,
                clients,
            });
        }
        Ok(Some(AccountView {
            name: citizen.full_name(),
            sessions,
            csrf_token: session_cookie.map(account_token).unwrap_or_default(),
        }))
    }

    /// Ends one of the citizen's own sessions (with logout at its clients). Returns false when
    /// the form is not this browser's or the session is not the citizen's.
    pub async fn end_own_session(
        &self,
        session_cookie: Option<&str>,
        csrf_token: &str,
        sid: &str,
    ) -> Result<bool, InternalError> {
        let (Some(cookie), Some(current)) =
            (session_cookie, self.live_session(session_cookie).await?)
        else {
            return Ok(false);
        };
        if !bool::from(
            csrf_token
                .as_bytes()
                .ct_eq(account_token(cookie).as_bytes()),
        ) {
            return Ok(false);
        }
        let Some(target) = self.store.find_session_by_sid(sid).await? else {
            return Ok(false);
        };
        if target.citizen_id != current.citizen_id {
            return Ok(false);
        }
        self.end_everywhere(&target.sid, target.citizen_id).await?;
        Ok(true)
    }
}
