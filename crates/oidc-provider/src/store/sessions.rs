//! SSO sessions (`sso_sessions`) and the clients that took part in each (`session_clients`).

use super::{corrupt, json_list, to_json, Store, StoreError};
use crate::grant::{ClientSid, ReleaseContext};
use crate::session::SsoSession;
use citizen_registry::AssuranceLevel;
use sqlx::FromRow;
use uuid::Uuid;

#[derive(FromRow)]
pub(super) struct SessionRow {
    sid: String,
    citizen_id: String,
    auth_time: i64,
    amr: String,
    aal: String,
    last_seen_at: i64,
    absolute_expires_at: i64,
    ended_at: Option<i64>,
}

impl TryFrom<SessionRow> for SsoSession {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(SsoSession {
            citizen_id: Uuid::parse_str(&row.citizen_id)
                .map_err(|_| corrupt("session citizen_id"))?,
            amr: json_list(&row.amr, "session amr")?,
            aal: AssuranceLevel::parse(&row.aal).map_err(|_| corrupt("session aal"))?,
            sid: row.sid,
            auth_time: row.auth_time,
            last_seen_at: row.last_seen_at,
            absolute_expires_at: row.absolute_expires_at,
            ended_at: row.ended_at,
        })
    }
}

impl Store {
    pub async fn insert_session(
        &self,
        id_hash: &str,
        session: &SsoSession,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sso_sessions (id_hash, sid, citizen_id, auth_time, amr, aal, created_at, last_seen_at, absolute_expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id_hash)
        .bind(&session.sid)
        .bind(session.citizen_id.to_string())
        .bind(session.auth_time)
        .bind(to_json(&session.amr))
        .bind(session.aal.as_str())
        .bind(now)
        .bind(session.last_seen_at)
        .bind(session.absolute_expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_session(&self, id_hash: &str) -> Result<Option<SsoSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT sid, citizen_id, auth_time, amr, aal, last_seen_at, absolute_expires_at, ended_at \
             FROM sso_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(SsoSession::try_from).transpose()
    }

    pub async fn find_session_by_sid(&self, sid: &str) -> Result<Option<SsoSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT sid, citizen_id, auth_time, amr, aal, last_seen_at, absolute_expires_at, ended_at \
             FROM sso_sessions WHERE sid = $1",
        )
        .bind(sid)
        .fetch_optional(&self.pool)
        .await?;
        row.map(SsoSession::try_from).transpose()
    }

    /// A fresh authentication in the session (a step-up, or a re-authentication for enrolling
    /// a factor): moves `auth_time` and sets the factors now proven.
    pub async fn update_session_reauthenticated(
        &self,
        sid: &str,
        amr: &[String],
        aal: AssuranceLevel,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sso_sessions SET auth_time = $1, last_seen_at = $1, amr = $2, aal = $3 WHERE sid = $4 AND ended_at IS NULL")
            .bind(now)
            .bind(to_json(&amr))
            .bind(aal.as_str())
            .bind(sid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn update_session_seen(&self, sid: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sso_sessions SET last_seen_at = $1 WHERE sid = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(sid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn update_session_ended(&self, sid: &str, now: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE sso_sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(sid)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// A citizen's sessions that have not ended or passed their absolute end, newest first
    /// (uses `sso_sessions_citizen`).
    pub async fn find_sessions_of(
        &self,
        citizen_id: Uuid,
        now: i64,
    ) -> Result<Vec<SsoSession>, StoreError> {
        let rows: Vec<SessionRow> = sqlx::query_as(
            "SELECT sid, citizen_id, auth_time, amr, aal, last_seen_at, absolute_expires_at, ended_at \
             FROM sso_sessions WHERE citizen_id = $1 AND ended_at IS NULL AND absolute_expires_at > $2 \
             ORDER BY auth_time DESC",
        )
        .bind(citizen_id.to_string())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SsoSession::try_from).collect()
    }

    /// Records that a client took part in a session (kept until the session's absolute end),
    /// with `client_sid`, the session's identifier for this client only (its first login in the
    /// session sets it; later logins keep it). The latest login's release context (chosen
    /// identity, requested claims) replaces the earlier one; CPR-match tries are kept.
    pub async fn insert_session_client(
        &self,
        sid: &str,
        client_id: &str,
        client_sid: &ClientSid,
        expires_at: i64,
        release_context: &ReleaseContext,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_clients (sid, client_id, client_sid, expires_at, release_context) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sid, client_id) DO UPDATE SET release_context = excluded.release_context",
        )
        .bind(sid)
        .bind(client_id)
        .bind(client_sid.as_str())
        .bind(expires_at)
        .bind(to_json(release_context))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The sid a client knows a session by, if it took part in it.
    pub async fn find_client_sid(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<ClientSid>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT client_sid FROM session_clients WHERE sid = $1 AND client_id = $2",
        )
        .bind(sid)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(client_sid,)| ClientSid::new(client_sid)))
    }

    /// The session a client knows by `client_sid` (the `sid` of its tokens).
    pub async fn find_session_by_client_sid(
        &self,
        client_id: &str,
        client_sid: &ClientSid,
    ) -> Result<Option<SsoSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.sid, s.citizen_id, s.auth_time, s.amr, s.aal, s.last_seen_at, s.absolute_expires_at, s.ended_at \
             FROM session_clients c JOIN sso_sessions s ON s.sid = c.sid \
             WHERE c.client_sid = $1 AND c.client_id = $2",
        )
        .bind(client_sid.as_str())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(SsoSession::try_from).transpose()
    }

    /// What the login chose for a client in a session, if it took part (and a context was kept).
    pub async fn find_release_context(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<ReleaseContext>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT release_context FROM session_clients WHERE sid = $1 AND client_id = $2",
        )
        .bind(sid)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.and_then(|(context,)| context)
            .map(|json| serde_json::from_str(&json).map_err(|_| corrupt("release context")))
            .transpose()
    }

    /// Uses one CPR-match try of a client in a session, atomically across nodes. False when
    /// `limit` tries are used up (or the client took no part in the session).
    pub async fn update_cpr_match_try(
        &self,
        sid: &str,
        client_id: &str,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE session_clients SET cpr_match_tries = cpr_match_tries + 1 \
             WHERE sid = $1 AND client_id = $2 AND cpr_match_tries < $3",
        )
        .bind(sid)
        .bind(client_id)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The clients that took part in a session, each with its own sid for it, for logout.
    pub async fn find_session_clients(
        &self,
        sid: &str,
    ) -> Result<Vec<(String, ClientSid)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT client_id, client_sid FROM session_clients WHERE sid = $1 ORDER BY client_id",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(client_id, client_sid)| (client_id, ClientSid::new(client_sid)))
            .collect())
    }
}
