//! Refresh tokens (RFC 6749 6, RFC 9700 4.14: rotation with reuse detection), revocation
//! (RFC 7009) and introspection (RFC 7662).

use crate::client::Client;
use crate::provider::{now, Grant, InternalError, Provider, TokenError, TokenResponse};
use crate::store::RefreshRow;
use crate::tokens::{self, AccessTokenClaims};
use citizen_registry::audit::AuditEvent;
use serde_json::{json, Value};
use uuid::Uuid;

fn single<'a>(form: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, TokenError> {
    let mut values = form
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(TokenError::InvalidRequest(format!(
            "parameter {name} is repeated"
        )));
    }
    Ok(first)
}

/// Why a refresh token family is revoked (the audit event kind and actor follow from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    /// A used refresh token was presented again: suspected theft.
    RefreshReuse,
    /// The authorization code of the grant was replayed.
    CodeReuse,
    /// The client revoked it (RFC 7009).
    Client,
}

fn corrupt(what: &str) -> TokenError {
    TokenError::Internal(InternalError::Store(crate::store::StoreError::Corrupt(
        what.to_owned(),
    )))
}

impl Provider {
    /// A refresh token for a new grant, if the client is registered for them or the citizen
    /// granted `offline_access`. Without `offline_access` it ends with the SSO session. Only
    /// prepared: the caller stores the row in the transaction that redeems the code.
    pub(crate) async fn prepare_refresh_token(
        &self,
        client: &Client,
        grant: &Grant,
        access_jti: &str,
        at: i64,
    ) -> Result<Option<(String, RefreshRow)>, InternalError> {
        let offline = grant.scopes.iter().any(|scope| scope == "offline_access");
        if !client.refresh_tokens && !offline {
            return Ok(None);
        }
        let expires_at = if offline {
            at + self.settings.offline_refresh_lifetime_seconds
        } else {
            match self.store.find_session_by_sid(&grant.sid).await? {
                Some(session) => session.absolute_expires_at,
                None => return Ok(None),
            }
        };
        let token = tokens::random_token()?;
        let row = RefreshRow {
            token_hash: tokens::sha256_hex(&token),
            family_id: tokens::random_token()?,
            client_id: client.id.clone(),
            citizen_id: grant.citizen_id.to_string(),
            sid: grant.sid.clone(),
            client_sid: grant.client_sid.clone(),
            scopes: serde_json::to_string(&grant.scopes).unwrap_or_default(),
            acr: grant.acr.clone(),
            amr: serde_json::to_string(&grant.amr).unwrap_or_default(),
            auth_time: grant.auth_time,
            offline: i64::from(offline),
            access_jti: Some(access_jti.to_owned()),
            created_at: at,
            expires_at,
            used_at: None,
            revoked_at: None,
        };
        Ok(Some((token, row)))
    }

    /// The `refresh_token` grant. Each use rotates the token; presenting a used one revokes
    /// the family (a stolen token was used by someone) and is audited as suspected theft. The
    /// new tokens never get more scope, a higher level, or a longer life than the grant.
    pub(crate) async fn refresh(
        &self,
        client: &Client,
        token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let token_hash = tokens::sha256_hex(token);
        let at = now();
        let Some(row) = self.store.find_refresh_token(&token_hash).await? else {
            return Err(TokenError::InvalidGrant(
                "the refresh token is unknown or expired".into(),
            ));
        };
        // RFC 6749 6: the refresh token is bound to the client it was issued to.
        if row.client_id != client.id {
            return Err(TokenError::InvalidGrant(
                "the refresh token was issued to another client".into(),
            ));
        }
        if row.revoked_at.is_some() {
            return Err(TokenError::InvalidGrant(
                "the refresh token was revoked".into(),
            ));
        }
        if row.used_at.is_some() {
            self.revoke_family(&row, at, Revocation::RefreshReuse)
                .await?;
            return Err(TokenError::InvalidGrant(
                "the refresh token was already used; its grant is revoked".into(),
            ));
        }
        if at >= row.expires_at {
            return Err(TokenError::InvalidGrant(
                "the refresh token has expired".into(),
            ));
        }
        if row.offline == 0 {
            let session = self.store.find_session_by_sid(&row.sid).await?;
            // Without offline_access the grant ends with the SSO session: logout, idle or cap.
            if !session.is_some_and(|session| session.is_live(&self.settings.session, at)) {
                return Err(TokenError::InvalidGrant(
                    "the login session has ended".into(),
                ));
            }
        }
        let citizen_id =
            Uuid::parse_str(&row.citizen_id).map_err(|_| corrupt("refresh citizen"))?;
        let Some(citizen) = self.active_citizen(citizen_id).await? else {
            return Err(TokenError::InvalidGrant(
                "the citizen can no longer log in".into(),
            ));
        };
        let granted: Vec<String> =
            serde_json::from_str(&row.scopes).map_err(|_| corrupt("refresh scopes"))?;
        // RFC 6749 6: a narrower scope may be asked for, never a wider one.
        let scopes = match scope {
            None => granted.clone(),
            Some(requested) => {
                let mut narrowed = Vec::new();
                for scope in requested.split(' ').filter(|scope| !scope.is_empty()) {
                    if !granted.iter().any(|granted| granted == scope) {
                        return Err(TokenError::InvalidScope(format!(
                            "scope {scope} was not granted"
                        )));
                    }
                    narrowed.push(scope.to_owned());
                }
                narrowed
            }
        };
        let grant = Grant {
            client_id: client.id.clone(),
            citizen_id,
            sid: row.sid.clone(),
            client_sid: row.client_sid.clone(),
            scopes: scopes.clone(),
            acr: row.acr.clone(),
            amr: serde_json::from_str(&row.amr).map_err(|_| corrupt("refresh amr"))?,
            auth_time: row.auth_time,
        };
        let jti = tokens::random_token().map_err(InternalError::from)?;
        let sub = self.subject(client, citizen.id);
        let lifetime = self
            .settings
            .access_token_lifetime_seconds
            .min(row.expires_at - at);
        let access_token = self.mint_access_token(&grant, &sub, jti.clone(), at, lifetime)?;
        let next = tokens::random_token().map_err(InternalError::from)?;
        let successor = RefreshRow {
            token_hash: tokens::sha256_hex(&next),
            access_jti: Some(jti),
            created_at: at,
            used_at: None,
            revoked_at: None,
            ..row.clone()
        };
        // Only a request answered with tokens uses the token up: a refused one (or one that
        // failed to store its successor) may be retried. Compare-and-set: of two concurrent
        // refreshes with one token, the loser is a reuse.
        if !self
            .store
            .rotate_refresh_token(&token_hash, at, &successor)
            .await?
        {
            self.revoke_family(&row, at, Revocation::RefreshReuse)
                .await?;
            return Err(TokenError::InvalidGrant(
                "the refresh token was already used; its grant is revoked".into(),
            ));
        }
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: lifetime,
            id_token: None,
            refresh_token: Some(next),
            scope: scopes.join(" "),
        })
    }

    /// Revokes every token of a family and the access tokens issued from it.
    pub(crate) async fn revoke_family(
        &self,
        row: &RefreshRow,
        at: i64,
        why: Revocation,
    ) -> Result<(), InternalError> {
        let access = self
            .store
            .update_refresh_family_revoked(&row.family_id, at)
            .await?;
        for (jti, issued_at) in access {
            self.store
                .insert_revoked_token(
                    &jti,
                    issued_at + self.settings.access_token_lifetime_seconds,
                )
                .await?;
        }
        let citizen = Uuid::parse_str(&row.citizen_id).ok();
        let (kind, actor) = match why {
            Revocation::RefreshReuse => {
                tracing::warn!(client_id = %row.client_id, "refresh token reused: grant revoked as suspected theft");
                ("token.refresh_reuse_suspected_theft", "system")
            }
            Revocation::CodeReuse => ("token.code_reuse_revoked", "system"),
            Revocation::Client => ("token.revoked", "client"),
        };
        let event = AuditEvent::new(kind, citizen, actor, at).with_client(&row.client_id);
        self.registry
            .store()
            .insert_audit_events(vec![event])
            .await
            .map_err(|error| InternalError::Registry(error.into()))?;
        Ok(())
    }

    /// RFC 7009: the client revokes a token it holds. Answers success for unknown tokens and
    /// for tokens of other clients alike (2.2), so revocation reveals nothing.
    pub async fn revoke(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Result<(), TokenError> {
        let client = self.authenticate_client(form, authorization).await?;
        let token = single(form, "token")?
            .ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
        let at = now();
        if let Some(row) = self
            .store
            .find_refresh_token(&tokens::sha256_hex(token))
            .await?
        {
            if row.client_id == client.id {
                self.revoke_family(&row, at, Revocation::Client).await?;
            }
            return Ok(());
        }
        if let Ok(claims) = self.keys.verify::<AccessTokenClaims>(
            token,
            "at+jwt",
            &self.settings.issuer,
            None,
            false,
        ) {
            if claims.client_id == client.id {
                self.store
                    .insert_revoked_token(&claims.jti, claims.exp)
                    .await?;
            }
        }
        Ok(())
    }

    /// RFC 7662: what a token is, for the client it was issued to or meant for; anything else
    /// (unknown, expired, revoked, ended session, another client's) is `{"active": false}`.
    pub async fn introspect(
        &self,
        form: &[(String, String)],
        authorization: Option<&str>,
    ) -> Result<Value, TokenError> {
        let client = self.authenticate_client(form, authorization).await?;
        let token = single(form, "token")?
            .ok_or_else(|| TokenError::InvalidRequest("token is missing".into()))?;
        let inactive = json!({ "active": false });
        let at = now();
        if let Some(row) = self
            .store
            .find_refresh_token(&tokens::sha256_hex(token))
            .await?
        {
            let live = row.client_id == client.id
                && row.used_at.is_none()
                && row.revoked_at.is_none()
                && at < row.expires_at;
            if !live {
                return Ok(inactive);
            }
            if row.offline == 0 {
                let session = self.store.find_session_by_sid(&row.sid).await?;
                if !session.is_some_and(|session| session.is_live(&self.settings.session, at)) {
                    return Ok(inactive);
                }
            }
            let citizen_id =
                Uuid::parse_str(&row.citizen_id).map_err(|_| corrupt("refresh citizen"))?;
            let scopes: Vec<String> =
                serde_json::from_str(&row.scopes).map_err(|_| corrupt("refresh scopes"))?;
            return Ok(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": scopes.join(" "),
                "client_id": row.client_id,
                "sub": self.subject(&client, citizen_id),
                "iss": self.settings.issuer,
                "iat": row.created_at,
                "exp": row.expires_at,
                "acr": row.acr,
                "aud": client.id,
            }));
        }
        let Ok(claims) = self.keys.verify::<AccessTokenClaims>(
            token,
            "at+jwt",
            &self.settings.issuer,
            None,
            true,
        ) else {
            return Ok(inactive);
        };
        // A client learns only about its own tokens, or tokens meant for it.
        if claims.client_id != client.id && claims.aud != client.id {
            return Ok(inactive);
        }
        if self.store.is_revoked(&claims.jti).await? {
            return Ok(inactive);
        }
        if let Some(sid) = &claims.sid {
            let session = self
                .store
                .find_session_by_client_sid(&claims.client_id, sid)
                .await?;
            if session.is_none_or(|session| session.ended_at.is_some()) {
                return Ok(inactive);
            }
        }
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "scope": claims.scope,
            "client_id": claims.client_id,
            "sub": claims.sub,
            "iss": claims.iss,
            "aud": claims.aud,
            "iat": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
        });
        if let Some(acr) = claims.acr {
            answer["acr"] = json!(acr);
        }
        if let Some(amr) = claims.amr {
            answer["amr"] = json!(amr);
        }
        if let Some(auth_time) = claims.auth_time {
            answer["auth_time"] = json!(auth_time);
        }
        Ok(answer)
    }
}
