//! Logout (OIDC RP-Initiated, Back-Channel and Front-Channel Logout 1.0): ending the SSO session
//! and reaching every client that took part in it.

use crate::context::Context;
use crate::error::InternalError;
use crate::flows::signing;
use crate::outbound::OutboundError;
use crate::store::{Delivery, NewDelivery};
use crate::tokens::{self, LogoutTokenClaims, BACKCHANNEL_LOGOUT_EVENT};
use citizen_registry::audit::AuditEvent;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// How long a node holds a delivery while it tries it (longer than the 5 s request timeout).
pub(crate) const DELIVERY_LEASE_SECONDS: i64 = 30;

/// Waits before the retries of a back-channel delivery that failed: five attempts over about
/// ten minutes, then the delivery is given up and audited as failed.
pub(crate) const DELIVERY_RETRY_SECONDS: [i64; 4] = [1, 10, 60, 600];

/// What the browser sees after a logout request.
#[derive(Debug)]
pub enum LogoutStep {
    /// The request is wrong in a way that must not redirect (RP-Initiated Logout 1.0 3).
    ErrorPage(&'static str),
    /// The request cannot be tied to the browser's session: ask the citizen to confirm.
    Confirm {
        csrf_token: String,
        params: Vec<(String, String)>,
    },
    /// Logged out (or there was nothing to end): load these front-channel URLs in iframes,
    /// then go to `redirect` (the registered post-logout URI with `state`), if any.
    Done {
        frontchannel: Vec<String>,
        redirect: Option<String>,
        ended: bool,
    },
}

/// How long a back-channel logout token is valid (one delivery attempt); a retired signing key
/// stays published at least this long after its last signature.
pub const LOGOUT_TOKEN_LIFETIME_SECONDS: i64 = 120;

/// The hint's claims that matter here; `exp` is not checked (a hint may be expired).
#[derive(Deserialize)]
pub(crate) struct Hint {
    pub(crate) aud: String,
    pub(crate) sid: Option<String>,
}

pub(crate) fn single<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, &'static str> {
    let mut values = params
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err("A logout parameter is repeated.");
    }
    Ok(first.filter(|value| !value.is_empty()))
}

/// The confirmation form's CSRF token: derived from the secret session cookie, so only the
/// browser holding it can produce it.
pub(crate) fn confirm_token(session_cookie: &str) -> String {
    tokens::sha256_hex(&format!("logout-confirmation:{session_cookie}"))
}

/// `end_session_endpoint`: validates the request, then logs out or asks to confirm.
pub async fn end_session(
    ctx: &Context,
    params: &[(String, String)],
    session_cookie: Option<&str>,
    confirmed_with: Option<&str>,
) -> Result<LogoutStep, InternalError> {
    let read = |name| single(params, name);
    let (hint, client_id, post_logout, state) = match (
        read("id_token_hint"),
        read("client_id"),
        read("post_logout_redirect_uri"),
        read("state"),
    ) {
        (Ok(hint), Ok(client_id), Ok(post_logout), Ok(state)) => {
            (hint, client_id, post_logout, state)
        }
        _ => return Ok(LogoutStep::ErrorPage("A logout parameter is repeated.")),
    };
    let hint: Option<Hint> = match hint {
        Some(token) => {
            match ctx
                .keys
                .verify::<Hint>(token, "JWT", &ctx.settings.issuer, None, None)
            {
                Ok(hint) => Some(hint),
                Err(_) => {
                    return Ok(LogoutStep::ErrorPage(
                        "The id_token_hint is not an ID token issued by Segl.",
                    ))
                }
            }
        }
        None => None,
    };
    // RP-Initiated Logout 1.0 2: client_id, if given with a hint, must be the hint's audience.
    let client_id = match (&hint, client_id) {
        (Some(hint), Some(client_id)) if hint.aud != client_id => {
            return Ok(LogoutStep::ErrorPage(
                "client_id does not match the id_token_hint.",
            ))
        }
        (Some(hint), _) => Some(hint.aud.clone()),
        (None, client_id) => client_id.map(str::to_owned),
    };
    let redirect = match post_logout {
        None => None,
        Some(uri) => {
            // RP-Initiated Logout 1.0 3: the URI must be registered exactly for the client
            // identified by the hint or client_id; never redirect otherwise.
            let Some(client_id) = &client_id else {
                return Ok(LogoutStep::ErrorPage(
                    "post_logout_redirect_uri needs id_token_hint or client_id.",
                ));
            };
            let client = ctx.store.find_client(client_id).await?;
            if !client.is_some_and(|client| {
                client
                    .post_logout_redirect_uris
                    .iter()
                    .any(|registered| registered == uri)
            }) {
                return Ok(LogoutStep::ErrorPage(
                    "The post_logout_redirect_uri is not registered for this client.",
                ));
            }
            let mut url = url::Url::parse(uri)?;
            if let Some(state) = state {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    let session = match session_cookie {
        Some(cookie) => ctx.store.find_session(&tokens::sha256_hex(cookie)).await?,
        None => None,
    };
    let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
        return Ok(LogoutStep::Done {
            frontchannel: Vec::new(),
            redirect,
            ended: false,
        });
    };
    // The hint's sid is its client's own sid for the session (see `session_clients`).
    let tied = match hint
        .as_ref()
        .and_then(|hint| Some((&hint.aud, hint.sid.as_deref()?)))
    {
        Some((aud, sid)) => ctx
            .store
            .find_client_sid(&session.sid, aud)
            .await?
            .is_some_and(|client_sid| client_sid.as_str() == sid),
        None => false,
    };
    let confirmed = match (confirmed_with, session_cookie) {
        (Some(presented), Some(cookie)) => {
            bool::from(presented.as_bytes().ct_eq(confirm_token(cookie).as_bytes()))
        }
        _ => false,
    };
    if !tied && !confirmed {
        let csrf_token = session_cookie.map(confirm_token).unwrap_or_default();
        return Ok(LogoutStep::Confirm {
            csrf_token,
            params: params.to_vec(),
        });
    }
    let frontchannel = end_everywhere(ctx, &session.sid, session.citizen_id).await?;
    Ok(LogoutStep::Done {
        frontchannel,
        redirect,
        ended: true,
    })
}

/// Ends a session and reaches its clients: back-channel deliveries are queued in the
/// database with the session's end and tried at once in the background (any node retries
/// what is left), front-channel URLs are returned for iframes.
pub async fn end_everywhere(
    ctx: &Context,
    sid: &str,
    citizen_id: uuid::Uuid,
) -> Result<Vec<String>, InternalError> {
    let at = ctx.clock.now();
    let mut frontchannel = Vec::new();
    let mut deliveries = Vec::new();
    let mut events = vec![AuditEvent::new("logout", Some(citizen_id), "citizen", at)];
    for (client_id, client_sid) in ctx.store.find_session_clients(sid).await? {
        let Some(client) = ctx.store.find_client(&client_id).await? else {
            continue;
        };
        if let Some(uri) = &client.frontchannel_logout_uri {
            // Front-Channel Logout 1.0 2: iss and the client's own sid as query parameters.
            if let Ok(mut url) = url::Url::parse(uri) {
                url.query_pairs_mut()
                    .append_pair("iss", &ctx.settings.issuer)
                    .append_pair("sid", client_sid.as_str());
                frontchannel.push(url.to_string());
            }
        }
        if client.backchannel_logout_uri.is_some() {
            deliveries.push(NewDelivery {
                id: tokens::random_token()?,
                client_id: client.id.clone(),
                citizen_id,
                client_sid: client_sid.clone(),
            });
        }
        events.push(
            AuditEvent::new("logout.client", Some(citizen_id), "system", at)
                .with_client(&client_id),
        );
    }
    if !ctx
        .store
        .update_session_ended_queueing(sid, at, &deliveries)
        .await?
    {
        return Ok(Vec::new());
    }
    ctx.registry
        .record(events)
        .await
        .map_err(InternalError::Registry)?;
    if !deliveries.is_empty() {
        let provider = ctx.clone();
        tokio::spawn(async move {
            if let Err(error) = deliver_due_logouts(&provider).await {
                tracing::warn!(%error, "back-channel logout delivery failed");
            }
        });
    }
    Ok(frontchannel)
}

/// Back-Channel Logout 1.0 2.5: starts every queued delivery that is due. Each node calls
/// this every second and after each logout; a row is leased while it is tried, so exactly
/// one node makes each attempt. Returns how many attempts were started.
pub async fn deliver_due_logouts(ctx: &Context) -> Result<usize, InternalError> {
    let at = ctx.clock.now();
    let due = ctx.store.find_due_deliveries(at, 64).await?;
    let mut attempts = 0;
    for delivery in due {
        if !ctx
            .store
            .claim_delivery(&delivery, at, at + DELIVERY_LEASE_SECONDS)
            .await?
        {
            continue;
        }
        attempts += 1;
        // One task per delivery: a relying party that takes its 5 s does not hold up the
        // others. The lease keeps every other node (and the next tick) off this row.
        let provider = ctx.clone();
        tokio::spawn(async move {
            if let Err(error) = attempt_delivery(&provider, delivery).await {
                tracing::warn!(%error, "back-channel logout delivery failed");
            }
        });
    }
    Ok(attempts)
}

/// One POST of a fresh `logout_token` (signed now, so a retry is never stale); 200 or 204
/// is success. The final outcome (delivered, or given up after the last retry, or the
/// client is gone) is audited with the number of attempts.
pub(crate) async fn attempt_delivery(
    ctx: &Context,
    delivery: Delivery,
) -> Result<(), InternalError> {
    let attempt = delivery.attempts + 1;
    let client = ctx.store.find_client(&delivery.client_id).await?;
    let Some((client, uri)) = client.and_then(|client| {
        let uri = client.backchannel_logout_uri.clone()?;
        Some((client, uri))
    }) else {
        ctx.store.delete_delivery(&delivery.id).await?;
        return audit_delivery(
            ctx,
            &delivery,
            "client has no back-channel endpoint",
            attempt - 1,
        )
        .await;
    };
    let at = ctx.clock.now();
    let claims = LogoutTokenClaims {
        iss: ctx.settings.issuer.clone(),
        sub: signing::subject(ctx, &client, delivery.citizen_id),
        aud: client.id.clone(),
        iat: at,
        exp: at + LOGOUT_TOKEN_LIFETIME_SECONDS,
        jti: delivery.id.clone(),
        sid: delivery.client_sid.to_string(),
        events: serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
    };
    let token = signing::sign(ctx, client.id_token_alg, Some("logout+jwt"), &claims)?;
    let outcome = match ctx
        .http
        .post_form(&uri, &[("logout_token", token.as_str())])
        .await
    {
        Ok(status) if status.is_success() => {
            let outcome = format!("delivered ({})", status.as_u16());
            ctx.store.delete_delivery(&delivery.id).await?;
            return audit_delivery(ctx, &delivery, &outcome, attempt).await;
        }
        Ok(status) => format!("refused ({})", status.as_u16()),
        Err(OutboundError::Timeout) => "timed out".to_owned(),
        Err(OutboundError::Refused(reason)) => format!("address refused: {reason}"),
        Err(_) => "unreachable".to_owned(),
    };
    match usize::try_from(delivery.attempts)
        .ok()
        .and_then(|done| DELIVERY_RETRY_SECONDS.get(done))
    {
        Some(delay) => {
            tracing::info!(client_id = %client.id, outcome = %outcome, attempt, "back-channel logout: will retry");
            ctx.store
                .update_delivery_retry(&delivery.id, ctx.clock.now() + delay)
                .await?;
            Ok(())
        }
        None => {
            ctx.store.delete_delivery(&delivery.id).await?;
            audit_delivery(ctx, &delivery, &outcome, attempt).await
        }
    }
}

pub(crate) async fn audit_delivery(
    ctx: &Context,
    delivery: &Delivery,
    outcome: &str,
    attempts: i64,
) -> Result<(), InternalError> {
    tracing::info!(client_id = %delivery.client_id, outcome = %outcome, attempts, "back-channel logout");
    let event = AuditEvent::new(
        "logout.backchannel",
        Some(delivery.citizen_id),
        "system",
        ctx.clock.now(),
    )
    .with_client(&delivery.client_id)
    .with_detail(serde_json::json!({ "outcome": outcome, "attempts": attempts }));
    ctx.registry
        .record(vec![event])
        .await
        .map_err(InternalError::Registry)
}
