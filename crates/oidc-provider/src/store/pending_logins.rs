//! Pending logins (`pending_authorizations`): an authorization request waiting for the citizen,
//! and where its login stands ([`LoginState`], one JSON column decoded here and nowhere else).

use super::{corrupt, to_json, Store, StoreError};
use crate::authorize::AuthorizationRequest;
use crate::level::SecondFactor;
use citizen_registry::AssuranceLevel;
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use uuid::Uuid;

/// Where a pending login stands. Each step of the login accepts exactly one of these (as
/// kanidm's `AuthSessionState`); a form for another step finds the login "expired".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum LoginState {
    /// Waiting for the password (a fresh login).
    Password,
    /// The password (or, in a step-up, the SSO session being raised) is proven; waiting for
    /// `factor`.
    SecondFactor {
        citizen_id: Uuid,
        /// The RFC 8176 methods proven so far (the session's, in a step-up).
        amr: Vec<String>,
        factor: SecondFactor,
        /// For a step-up: the session being raised (no new session is made).
        step_up_sid: Option<String>,
        /// Wrong one-time codes or refused passkeys so far.
        code_failures: u32,
        /// The WebAuthn challenge state of the passkey step (a serialized
        /// `PasskeyAuthentication`), renewed each time the page is shown and cleared when an
        /// answer is checked.
        passkey_challenge: Option<serde_json::Value>,
    },
    /// Logged in (this SSO session); waiting for the citizen to choose an identity.
    Choice { sid: String },
}

/// A pending login: the validated request, the level it needs, and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub id: String,
    pub request: AuthorizationRequest,
    /// The assurance level the login must reach.
    pub level: AssuranceLevel,
    pub state: LoginState,
    /// SHA-256 of the browser-binding cookie of the browser that started the login.
    pub browser_hash: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The `request` column: what does not change during the login.
#[derive(Serialize, Deserialize)]
struct StoredRequest {
    request: AuthorizationRequest,
    level: AssuranceLevel,
}

#[derive(FromRow)]
struct PendingRow {
    id: String,
    request: String,
    state: String,
    browser_hash: String,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
}

fn encode_state(state: &LoginState) -> String {
    to_json(state)
}

fn decode_state(text: &str) -> Result<LoginState, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("pending login state"))
}

impl PendingRow {
    fn decode(self) -> Result<PendingLogin, StoreError> {
        let stored: StoredRequest =
            serde_json::from_str(&self.request).map_err(|_| corrupt("pending request"))?;
        Ok(PendingLogin {
            id: self.id,
            request: stored.request,
            level: stored.level,
            state: decode_state(&self.state)?,
            browser_hash: self.browser_hash,
            csrf_token: self.csrf_token,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

impl Store {
    pub async fn insert_pending(&self, pending: &PendingLogin) -> Result<(), StoreError> {
        let request = StoredRequest {
            request: pending.request.clone(),
            level: pending.level,
        };
        sqlx::query(
            "INSERT INTO pending_authorizations (id, request, state, browser_hash, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&pending.id)
        .bind(to_json(&request))
        .bind(encode_state(&pending.state))
        .bind(&pending.browser_hash)
        .bind(&pending.csrf_token)
        .bind(pending.created_at)
        .bind(pending.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The pending login `id` if it has not expired (a corrupt row is [`StoreError::Corrupt`]).
    pub async fn find_pending(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        let row: Option<PendingRow> = sqlx::query_as(
            "SELECT id, request, state, browser_hash, csrf_token, created_at, expires_at \
             FROM pending_authorizations WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(PendingRow::decode).transpose()
    }

    /// Moves a pending login to `state` (the next factor, a wrong-code count, a new passkey
    /// challenge). Unconditional, as before the state was one column: the last writer wins.
    /// Finishing a login stays single use through [`Store::delete_pending`].
    pub async fn update_pending_state(
        &self,
        id: &str,
        state: &LoginState,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE pending_authorizations SET state = $1 WHERE id = $2")
            .bind(encode_state(state))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second_factor(step_up_sid: Option<&str>, challenge: bool) -> LoginState {
        LoginState::SecondFactor {
            citizen_id: Uuid::new_v4(),
            amr: vec!["pwd".to_owned()],
            factor: if challenge {
                SecondFactor::Passkey
            } else {
                SecondFactor::OneTimeCode
            },
            step_up_sid: step_up_sid.map(str::to_owned),
            code_failures: 3,
            passkey_challenge: challenge
                .then(|| serde_json::json!({"ast": {"challenge": "abc", "allow": [1, 2.5]}})),
        }
    }

    #[test]
    fn every_state_reads_back_as_written() {
        for state in [
            LoginState::Password,
            second_factor(None, false),
            second_factor(Some("session"), false),
            second_factor(None, true),
            LoginState::Choice {
                sid: "session".to_owned(),
            },
        ] {
            let stored = encode_state(&state);
            assert_eq!(decode_state(&stored).ok(), Some(state), "{stored}");
        }
    }

    #[test]
    fn the_stored_form_is_tagged_by_stage() {
        assert_eq!(
            encode_state(&LoginState::Password),
            r#"{"stage":"password"}"#
        );
        assert_eq!(
            encode_state(&LoginState::Choice {
                sid: "s".to_owned()
            }),
            r#"{"stage":"choice","sid":"s"}"#
        );
        assert!(
            encode_state(&second_factor(None, false)).starts_with(r#"{"stage":"second_factor","#)
        );
    }

    #[test]
    fn a_corrupt_state_is_corrupt() {
        for text in [
            "",
            "null",
            "{}",
            r#"{"stage":"finished"}"#,
            r#"{"stage":"choice"}"#,
            r#"{"stage":"second_factor","citizen_id":"not a uuid","amr":[],"factor":"one_time_code","step_up_sid":null,"code_failures":0,"passkey_challenge":null}"#,
        ] {
            assert!(
                matches!(decode_state(text), Err(StoreError::Corrupt(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_row_with_a_corrupt_request_is_corrupt() {
        let row = PendingRow {
            id: "id".to_owned(),
            request: r#"{"level":"substantial"}"#.to_owned(),
            state: encode_state(&LoginState::Password),
            browser_hash: String::new(),
            csrf_token: String::new(),
            created_at: 0,
            expires_at: 1,
        };
        assert!(matches!(row.decode(), Err(StoreError::Corrupt(_))));
    }
}
