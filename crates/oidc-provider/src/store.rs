//! All of the provider's SQL, over sqlx's `AnyPool`. Owns the tables `clients`,
//! `signing_keys`, `pending_authorizations`, `sso_sessions`, `authorization_codes`,
//! `revoked_tokens`, `used_assertions`, `session_clients`, `refresh_tokens`,
//! `backchannel_deliveries`, `clients_version` and `webauthn_challenges`.

use crate::client::{Client, ClientAuthMethod, SigningAlg, SubjectType};
use crate::session::SsoSession;
use citizen_registry::AssuranceLevel;
use sqlx::{AnyPool, FromRow};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("a stored row is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The database cannot serve now (one classification: [`citizen_registry::store::is_unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Database(error) if citizen_registry::store::is_unavailable(error))
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
}

#[derive(FromRow)]
struct ClientRow {
    id: String,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    auth_method: String,
    secret_hash: Option<String>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    scopes: String,
    id_token_alg: String,
    min_acr: Option<String>,
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
    refresh_tokens: i64,
    public_authority: i64,
    cpr_entitled: i64,
    subject_type: String,
    sector_identifier: Option<String>,
    /// Only selected when listing.
    #[sqlx(default)]
    source: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, StoreError> {
        let what = |field: &str| format!("client {}: {field}", row.id);
        let subject_type =
            SubjectType::parse(&row.subject_type).ok_or_else(|| corrupt(what("subject_type")))?;
        Ok(Client {
            redirect_uris: json_list(&row.redirect_uris, &what("redirect_uris"))?,
            post_logout_redirect_uris: json_list(
                &row.post_logout_redirect_uris,
                &what("post_logout_redirect_uris"),
            )?,
            auth_method: ClientAuthMethod::parse(&row.auth_method)
                .ok_or_else(|| corrupt(what("auth_method")))?,
            jwks: row
                .jwks
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt(what("jwks")))?,
            scopes: json_list(&row.scopes, &what("scopes"))?,
            id_token_alg: SigningAlg::parse(&row.id_token_alg)
                .ok_or_else(|| corrupt(what("id_token_alg")))?,
            min_acr: row
                .min_acr
                .as_deref()
                .map(AssuranceLevel::parse)
                .transpose()
                .map_err(|_| corrupt(what("min_acr")))?,
            id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            jwks_uri: row.jwks_uri,
            backchannel_logout_uri: row.backchannel_logout_uri,
            frontchannel_logout_uri: row.frontchannel_logout_uri,
            refresh_tokens: row.refresh_tokens != 0,
            public_authority: row.public_authority != 0,
            cpr_entitled: row.cpr_entitled != 0,
            subject_type,
            sector_identifier: row.sector_identifier,
        })
    }
}

/// A signing key as stored: the private key sealed.
#[derive(Debug, Clone, FromRow)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub private_key: String,
    pub created_at: i64,
    pub retire_after: Option<i64>,
    /// When the key signs (or signed) from; `None` for a key that never signed.
    pub active_from: Option<i64>,
}

/// A stored key's new state: `retire_after` is written as given, `active_from` only when set
/// (a retiring key keeps the moment it started signing).
#[derive(Debug, Clone)]
pub struct KeyStateChange {
    pub kid: String,
    pub state: &'static str,
    pub retire_after: Option<i64>,
    pub active_from: Option<i64>,
}

/// A WebAuthn ceremony started from the account page.
#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub citizen_id: String,
    /// SHA-256 of the session cookie the ceremony was started in.
    pub session_hash: String,
    /// The serialized ceremony state (challenge, options).
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A pending authorization request row.
#[derive(Debug, Clone, FromRow)]
pub struct PendingRow {
    pub id: String,
    pub request: String,
    pub browser_hash: String,
    pub csrf_token: String,
    pub citizen_id: Option<String>,
    pub amr: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(FromRow)]
struct SessionRow {
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

/// A refresh token as stored (the token itself only as its hash).
#[derive(Debug, Clone, FromRow)]
pub struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub citizen_id: String,
    pub sid: String,
    /// The client's own sid for this session (see `session_clients.client_sid`).
    pub client_sid: String,
    pub scopes: String,
    pub acr: String,
    pub amr: String,
    pub auth_time: i64,
    pub offline: i64,
    pub access_jti: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    #[sqlx(default)]
    pub used_at: Option<i64>,
    #[sqlx(default)]
    pub revoked_at: Option<i64>,
}

/// An authorization code's grant, as stored.
#[derive(Debug, Clone, FromRow)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub citizen_id: String,
    pub sid: String,
    pub scopes: String,
    pub nonce: String,
    pub code_challenge: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    pub access_jti: Option<String>,
}

/// A back-channel logout to deliver; `id` becomes the logout token's `jti`.
pub struct NewDelivery {
    pub id: String,
    pub client_id: String,
    pub citizen_id: Uuid,
    /// The client's own sid for the session, carried by its logout token.
    pub sid: String,
}

/// A queued back-channel logout delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub client_id: String,
    pub citizen_id: Uuid,
    pub sid: String,
    /// Attempts made so far.
    pub attempts: i64,
}

#[derive(FromRow)]
struct DeliveryRow {
    id: String,
    client_id: String,
    citizen_id: String,
    sid: String,
    attempts: i64,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            citizen_id: Uuid::parse_str(&row.citizen_id)
                .map_err(|_| corrupt("backchannel_deliveries.citizen_id"))?,
            id: row.id,
            client_id: row.client_id,
            sid: row.sid,
            attempts: row.attempts,
        })
    }
}

/// A new authorization code's grant.
pub struct NewCode<'a> {
    pub code_hash: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub citizen_id: Uuid,
    pub sid: &'a str,
    pub scopes: &'a [String],
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub created_at: i64,
    pub expires_at: i64,
}

async fn bump_clients_version(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE clients_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

impl Store {
    /// How many migrations are applied (sqlx's own table): `/readyz` compares it with the
    /// binary's, and the query shows the database answers.
    pub async fn applied_migrations(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub fn new(pool: AnyPool) -> Self {
        Self { pool }
    }

    // ----- clients -----

    pub async fn find_client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        let row: Option<ClientRow> = sqlx::query_as(
            "SELECT id, name, redirect_uris, post_logout_redirect_uris, auth_method, secret_hash, jwks, jwks_uri, \
             scopes, id_token_alg, min_acr, backchannel_logout_uri, frontchannel_logout_uri, refresh_tokens, \
             public_authority, cpr_entitled, subject_type, sector_identifier FROM clients WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Client::try_from).transpose()
    }

    /// Every client with where it came from (`cli` or `config`), by id.
    pub async fn find_clients(&self) -> Result<Vec<(Client, String)>, StoreError> {
        let rows: Vec<ClientRow> = sqlx::query_as(
            "SELECT id, name, redirect_uris, post_logout_redirect_uris, auth_method, secret_hash, jwks, jwks_uri, \
             scopes, id_token_alg, min_acr, backchannel_logout_uri, frontchannel_logout_uri, refresh_tokens, \
             public_authority, cpr_entitled, subject_type, sector_identifier, source FROM clients ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|mut row| {
                let source = row.source.take().unwrap_or_default();
                Client::try_from(row).map(|client| (client, source))
            })
            .collect()
    }

    /// Inserts or replaces a client. Returns false if `id` exists and `replace` is false.
    pub async fn upsert_client(
        &self,
        client: &Client,
        source: &str,
        replace: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let conflict = if replace {
            "ON CONFLICT (id) DO UPDATE SET name = excluded.name, redirect_uris = excluded.redirect_uris, \
             post_logout_redirect_uris = excluded.post_logout_redirect_uris, auth_method = excluded.auth_method, \
             secret_hash = excluded.secret_hash, jwks = excluded.jwks, jwks_uri = excluded.jwks_uri, \
             scopes = excluded.scopes, id_token_alg = excluded.id_token_alg, min_acr = excluded.min_acr, \
             backchannel_logout_uri = excluded.backchannel_logout_uri, \
             frontchannel_logout_uri = excluded.frontchannel_logout_uri, \
             refresh_tokens = excluded.refresh_tokens, \
             public_authority = excluded.public_authority, cpr_entitled = excluded.cpr_entitled, \
             subject_type = excluded.subject_type, sector_identifier = excluded.sector_identifier, \
             source = excluded.source, updated_at = excluded.updated_at"
        } else {
            "ON CONFLICT (id) DO NOTHING"
        };
        let sql = format!(
            "INSERT INTO clients (id, name, redirect_uris, post_logout_redirect_uris, auth_method, secret_hash, jwks, \
             jwks_uri, scopes, id_token_alg, min_acr, backchannel_logout_uri, frontchannel_logout_uri, refresh_tokens, \
             public_authority, cpr_entitled, subject_type, sector_identifier, source, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) {conflict}"
        );
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(&sql)
            .bind(&client.id)
            .bind(&client.name)
            .bind(to_json(&client.redirect_uris))
            .bind(to_json(&client.post_logout_redirect_uris))
            .bind(client.auth_method.as_str())
            .bind(client.secret_hash.clone())
            .bind(client.jwks.as_ref().map(to_json))
            .bind(client.jwks_uri.clone())
            .bind(to_json(&client.scopes))
            .bind(client.id_token_alg.as_str())
            .bind(client.min_acr.map(|level| level.as_str().to_owned()))
            .bind(client.backchannel_logout_uri.clone())
            .bind(client.frontchannel_logout_uri.clone())
            .bind(i64::from(client.refresh_tokens))
            .bind(i64::from(client.public_authority))
            .bind(i64::from(client.cpr_entitled))
            .bind(client.subject_type.as_str())
            .bind(client.sector_identifier.clone())
            .bind(source)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        let changed = result.rows_affected() > 0;
        if changed {
            bump_clients_version(&mut transaction).await?;
        }
        transaction.commit().await?;
        Ok(changed)
    }

    pub async fn delete_client(&self, id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            bump_clients_version(&mut transaction).await?;
        }
        transaction.commit().await?;
        Ok(deleted)
    }

    /// Bumped with every change to `clients`: nodes compare it to drop their client cache.
    pub async fn find_clients_version(&self) -> Result<i64, StoreError> {
        let (version,): (i64,) = sqlx::query_as("SELECT version FROM clients_version WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(version)
    }

    // ----- signing keys -----

    pub async fn find_signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kid, alg, state, private_key, created_at, retire_after, active_from FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Bumped with every change to `signing_keys`, in the same transaction: nodes poll this one
    /// row to notice another node's rotation (or `segl keys rotate`) cheaply.
    pub async fn find_signing_keys_version(&self) -> Result<i64, StoreError> {
        let (version,): (i64,) =
            sqlx::query_as("SELECT version FROM signing_keys_version WHERE id = 1")
                .fetch_one(&self.pool)
                .await?;
        Ok(version)
    }

    /// Applies a rotation in one transaction: new keys, then state changes, then drops. A
    /// compare-and-set on `signing_keys_version` comes first: if another writer changed the keys
    /// since they were read at `expected_version`, nothing is written and the result is false.
    /// Also fails (and writes nothing) if another node activated a key for the same algorithm.
    pub async fn update_signing_keys(
        &self,
        inserts: &[StoredKey],
        state_changes: &[KeyStateChange],
        deletes: &[String],
        now: i64,
        expected_version: i64,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        // The first statement writes (SQLite), and the row lock serialises rotations (PostgreSQL).
        let bumped = sqlx::query(
            "UPDATE signing_keys_version SET version = version + 1 WHERE id = 1 AND version = $1",
        )
        .bind(expected_version)
        .execute(&mut *transaction)
        .await?;
        if bumped.rows_affected() != 1 {
            transaction.rollback().await?;
            return Ok(false);
        }
        // Demote first so that the one-active-key index holds at every statement.
        for change in state_changes
            .iter()
            .filter(|change| change.state != "active")
        {
            sqlx::query("UPDATE signing_keys SET state = $1, retire_after = $2, updated_at = $3 WHERE kid = $4")
                .bind(change.state)
                .bind(change.retire_after)
                .bind(now)
                .bind(&change.kid)
                .execute(&mut *transaction)
                .await?;
        }
        for change in state_changes
            .iter()
            .filter(|change| change.state == "active")
        {
            sqlx::query("UPDATE signing_keys SET state = $1, retire_after = $2, active_from = $3, updated_at = $4 WHERE kid = $5")
                .bind(change.state)
                .bind(change.retire_after)
                .bind(change.active_from)
                .bind(now)
                .bind(&change.kid)
                .execute(&mut *transaction)
                .await?;
        }
        for key in inserts {
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, state, private_key, created_at, retire_after, active_from, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.state)
            .bind(&key.private_key)
            .bind(key.created_at)
            .bind(key.retire_after)
            .bind(key.active_from)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        for kid in deletes {
            sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    // ----- pending authorization requests -----

    pub async fn insert_pending(&self, row: &PendingRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_authorizations (id, request, browser_hash, csrf_token, citizen_id, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.request)
        .bind(&row.browser_hash)
        .bind(&row.csrf_token)
        .bind(row.citizen_id.clone())
        .bind(row.amr.clone())
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_pending(&self, id: &str, now: i64) -> Result<Option<PendingRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, request, browser_hash, csrf_token, citizen_id, amr, created_at, expires_at \
             FROM pending_authorizations WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records the citizen and factors so far (between the password and a second factor).
    pub async fn update_pending_progress(
        &self,
        id: &str,
        citizen_id: Uuid,
        amr: &[String],
        request: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET citizen_id = $1, amr = $2, request = $3 WHERE id = $4")
            .bind(citizen_id.to_string())
            .bind(to_json(&amr))
            .bind(request)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Replaces the stored request state (e.g. the count of wrong codes).
    pub async fn update_pending_request(&self, id: &str, request: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET request = $1 WHERE id = $2")
            .bind(request)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes a pending request; true only for the one caller that deleted it (single use).
    pub async fn delete_pending(&self, id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM pending_authorizations WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    // ----- SSO sessions -----

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

    // ----- WebAuthn ceremonies outside a login -----

    pub async fn insert_challenge(&self, row: &ChallengeRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO webauthn_challenges (id, citizen_id, session_hash, state, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(row.id.clone())
        .bind(row.citizen_id.clone())
        .bind(row.session_hash.clone())
        .bind(row.state.clone())
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes a ceremony (single use): deletes it and returns it if it had not expired.
    pub async fn delete_challenge(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<ChallengeRow>, StoreError> {
        let row: Option<ChallengeRow> = sqlx::query_as(
            "DELETE FROM webauthn_challenges WHERE id = $1 \
             RETURNING id, citizen_id, session_hash, state, created_at, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.filter(|row| row.expires_at > now))
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

    /// Ends a session and queues its back-channel logout deliveries in one transaction, so an
    /// acknowledged logout reaches every client even if this node stops. False when the
    /// session had already ended (nothing is queued then).
    pub async fn update_session_ended_queueing(
        &self,
        sid: &str,
        now: i64,
        deliveries: &[NewDelivery],
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE sso_sessions SET ended_at = $1 WHERE sid = $2 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(sid)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            > 0;
        if !ended {
            transaction.rollback().await?;
            return Ok(false);
        }
        for delivery in deliveries {
            sqlx::query(
                "INSERT INTO backchannel_deliveries (id, client_id, citizen_id, sid, attempts, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, 0, $5, $5)",
            )
            .bind(&delivery.id)
            .bind(&delivery.client_id)
            .bind(delivery.citizen_id.to_string())
            .bind(&delivery.sid)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(true)
    }

    // ----- back-channel logout deliveries -----

    /// Deliveries due at `now`, oldest first.
    pub async fn find_due_deliveries(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(
            "SELECT id, client_id, citizen_id, sid, attempts FROM backchannel_deliveries \
             WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Delivery::try_from).collect()
    }

    /// Takes a due delivery for one attempt: counts the attempt and leases the row until
    /// `lease_until`, so no other node tries it meanwhile. False when another node took it.
    pub async fn claim_delivery(
        &self,
        delivery: &Delivery,
        now: i64,
        lease_until: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE backchannel_deliveries SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE id = $2 AND attempts = $3 AND next_attempt_at <= $4",
        )
        .bind(lease_until)
        .bind(&delivery.id)
        .bind(delivery.attempts)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    pub async fn update_delivery_retry(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE backchannel_deliveries SET next_attempt_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn delete_delivery(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM backchannel_deliveries WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- authorization codes -----

    pub async fn insert_code(&self, code: &NewCode<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, citizen_id, sid, scopes, nonce, \
             code_challenge, auth_time, acr, amr, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(code.code_hash)
        .bind(code.client_id)
        .bind(code.redirect_uri)
        .bind(code.citizen_id.to_string())
        .bind(code.sid)
        .bind(to_json(&code.scopes))
        .bind(code.nonce)
        .bind(code.code_challenge)
        .bind(code.auth_time)
        .bind(code.acr)
        .bind(to_json(&code.amr))
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn find_code(&self, code_hash: &str) -> Result<Option<CodeRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT client_id, redirect_uri, citizen_id, sid, scopes, nonce, code_challenge, auth_time, acr, amr, \
             expires_at, redeemed_at, access_jti FROM authorization_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Redeems a code (compare-and-set on `redeemed_at`) and stores the grant's refresh token in
    /// one transaction: either the code is spent and the token exists, or neither. False when
    /// another request redeemed the code first.
    pub async fn redeem_code(
        &self,
        code_hash: &str,
        access_jti: &str,
        now: i64,
        refresh: Option<&RefreshRow>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE authorization_codes SET redeemed_at = $1, access_jti = $2 WHERE code_hash = $3 AND redeemed_at IS NULL",
        )
        .bind(now)
        .bind(access_jti)
        .bind(code_hash)
        .execute(&mut *transaction)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(row) = refresh {
            insert_refresh_row(&mut transaction, row).await?;
        }
        transaction.commit().await?;
        Ok(true)
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
        client_sid: &str,
        expires_at: i64,
        release_context: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO session_clients (sid, client_id, client_sid, expires_at, release_context) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (sid, client_id) DO UPDATE SET release_context = excluded.release_context",
        )
        .bind(sid)
        .bind(client_id)
        .bind(client_sid)
        .bind(expires_at)
        .bind(release_context)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The sid a client knows a session by, if it took part in it.
    pub async fn find_client_sid(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT client_sid FROM session_clients WHERE sid = $1 AND client_id = $2",
        )
        .bind(sid)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(client_sid,)| client_sid))
    }

    /// The session a client knows by `client_sid` (the `sid` of its tokens).
    pub async fn find_session_by_client_sid(
        &self,
        client_id: &str,
        client_sid: &str,
    ) -> Result<Option<SsoSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.sid, s.citizen_id, s.auth_time, s.amr, s.aal, s.last_seen_at, s.absolute_expires_at, s.ended_at \
             FROM session_clients c JOIN sso_sessions s ON s.sid = c.sid \
             WHERE c.client_sid = $1 AND c.client_id = $2",
        )
        .bind(client_sid)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(SsoSession::try_from).transpose()
    }

    /// What the login released to a client in a session (JSON), if it took part.
    pub async fn find_release_context(
        &self,
        sid: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT release_context FROM session_clients WHERE sid = $1 AND client_id = $2",
        )
        .bind(sid)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|(context,)| context))
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
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT client_id, client_sid FROM session_clients WHERE sid = $1 ORDER BY client_id",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?)
    }

    // ----- refresh tokens -----

    /// The first refresh token of the family issued with a code's access token (uses
    /// `refresh_tokens_sid`), to revoke the grant when the code is replayed.
    pub async fn find_refresh_token_of_code(
        &self,
        sid: &str,
        client_id: &str,
        access_jti: &str,
    ) -> Result<Option<RefreshRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens \
             WHERE sid = $1 AND client_id = $2 AND access_jti = $3",
        )
        .bind(sid)
        .bind(client_id)
        .bind(access_jti)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, family_id, client_id, citizen_id, sid, client_sid, scopes, acr, amr, auth_time, offline, \
             access_jti, created_at, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Rotates a refresh token in one transaction: marks it used, only if it was not used or
    /// revoked before (compare-and-set: of two concurrent refreshes with one token, one wins and
    /// the other is a reuse), and stores its successor. Either both happen or neither, so a
    /// client that got an error may retry with the same token.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        next: &RefreshRow,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&mut *transaction)
        .await?;
        if result.rows_affected() == 0 {
            return Ok(false);
        }
        insert_refresh_row(&mut transaction, next).await?;
        transaction.commit().await?;
        Ok(true)
    }

    /// Revokes a whole family; returns the access token ids issued from it, to revoke them too.
    pub async fn update_refresh_family_revoked(
        &self,
        family_id: &str,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
            "SELECT access_jti, created_at FROM refresh_tokens WHERE family_id = $1",
        )
        .bind(family_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(jti, created)| jti.map(|jti| (jti, created)))
            .collect())
    }

    // ----- revoked tokens and used assertions -----

    pub async fn insert_revoked_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Records an assertion id; false if it was used before (RFC 7523 3, item 7).
    pub async fn insert_used_assertion(
        &self,
        client_jti: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO used_assertions (client_jti, expires_at) VALUES ($1, $2) ON CONFLICT (client_jti) DO NOTHING",
        )
        .bind(client_jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() > 0)
    }

    /// Deletes rows that can no longer matter. Each table has an index on its expiry.
    pub async fn delete_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM pending_authorizations WHERE expires_at <= $1",
            "DELETE FROM authorization_codes WHERE expires_at <= $1 - 3600",
            "DELETE FROM used_assertions WHERE expires_at <= $1",
            "DELETE FROM revoked_tokens WHERE expires_at <= $1",
            "DELETE FROM session_clients WHERE expires_at <= $1",
            "DELETE FROM refresh_tokens WHERE expires_at <= $1",
            "DELETE FROM webauthn_challenges WHERE expires_at <= $1",
        ] {
            deleted += sqlx::query(sql)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(deleted)
    }
}

/// One refresh-token row, on a connection or inside a transaction.
async fn insert_refresh_row(
    connection: &mut sqlx::AnyConnection,
    row: &RefreshRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, citizen_id, sid, scopes, acr, amr, auth_time, \
         offline, access_jti, created_at, expires_at, client_sid) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&row.token_hash)
    .bind(&row.family_id)
    .bind(&row.client_id)
    .bind(&row.citizen_id)
    .bind(&row.sid)
    .bind(&row.scopes)
    .bind(&row.acr)
    .bind(&row.amr)
    .bind(row.auth_time)
    .bind(row.offline)
    .bind(row.access_jti.clone())
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(&row.client_sid)
    .execute(&mut *connection)
    .await?;
    Ok(())
}
