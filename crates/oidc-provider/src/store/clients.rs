//! Clients (`clients`, `clients_version`): registration and the version every node polls.

use super::{corrupt, json_list, to_json, Store, StoreError};
use crate::client::{Client, ClientAuthMethod, SigningAlg, SubjectType};
use citizen_registry::AssuranceLevel;
use sqlx::FromRow;

#[derive(FromRow)]
pub(super) struct ClientRow {
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

pub(super) async fn bump_clients_version(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE clients_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **transaction)
        .await?;
    Ok(())
}

impl Store {
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
}
