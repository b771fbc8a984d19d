//! After authentication, whom the citizen logs in as: themselves, a professional identity of an
//! organisation they work for, or a power of attorney (docs/NEMLOGIN.md).

use crate::authorize::AuthorizationRequest;
use crate::claims;
use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::client;
use crate::flows::login;
use crate::flows::login::{FormOutcome, Step};
use crate::flows::release::may_name_principal;
use crate::session::SsoSession;
use crate::store::LoginState;
use citizen_registry::Citizen;
use std::sync::Arc;
use uuid::Uuid;

/// Whom the citizen logs in as, chosen after authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Myself,
    Professional(Uuid),
    Attorney(Uuid),
}

impl Choice {
    pub(crate) fn value(self) -> String {
        match self {
            Self::Myself => "self".to_owned(),
            Self::Professional(id) => format!("pro:{id}"),
            Self::Attorney(id) => format!("poa:{id}"),
        }
    }
}

/// One entry on the choice page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceOption {
    pub value: String,
    /// The organisation (name and CVR), or the principal (a name or a safe label) and privileges;
    /// empty for "myself".
    pub label: String,
}

/// What the choice page offers.
pub(crate) enum Choices {
    Decided(Choice),
    Ask(Vec<(Choice, String)>),
    Denied(&'static str),
}

/// A pending choice, loaded: the login's session, citizen and client, and what is offered.
pub(crate) struct ChoiceState {
    pub(crate) session: SsoSession,
    pub(crate) citizen: Citizen,
    pub(crate) client: Arc<Client>,
    pub(crate) options: Vec<(Choice, String)>,
}

/// For a login waiting for the choice in session `sid`: the session, citizen and client, and
/// the options (None: the login is gone or there is nothing to choose any more).
pub(crate) async fn choice_state(
    ctx: &Context,
    request: &AuthorizationRequest,
    sid: &str,
) -> Result<Option<ChoiceState>, InternalError> {
    let session = ctx.store.find_session_by_sid(sid).await?;
    let Some(session) = session.filter(|session| session.ended_at.is_none()) else {
        return Ok(None);
    };
    let Some(citizen) = flows::active_citizen(ctx, session.citizen_id).await? else {
        return Ok(None);
    };
    let Some(client) = client::find_client(ctx, &request.client_id).await? else {
        return Ok(None);
    };
    match choices(ctx, request, &client, &citizen, ctx.clock.now()).await? {
        Choices::Ask(options) => Ok(Some(ChoiceState {
            session,
            citizen,
            client,
            options,
        })),
        Choices::Decided(_) | Choices::Denied(_) => Ok(None),
    }
}

/// The choice form: log in as a professional identity or under a power of attorney.
pub async fn submit_choice(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
    value: &str,
) -> Result<FormOutcome, InternalError> {
    let Some(pending) =
        login::pending_for_form(ctx, pending_id, browser_cookie, csrf_token).await?
    else {
        return Ok(FormOutcome::Expired);
    };
    let LoginState::Choice { sid } = &pending.state else {
        return Ok(FormOutcome::Expired);
    };
    let Some(ChoiceState {
        session,
        citizen,
        client,
        options,
    }) = choice_state(ctx, &pending.request, sid).await?
    else {
        return Ok(FormOutcome::Expired);
    };
    // Only an offered option counts: an expired or revoked power of attorney is not offered.
    let Some((choice, _)) = options
        .into_iter()
        .find(|(choice, _)| choice.value() == value)
    else {
        return Ok(FormOutcome::Expired);
    };
    if !ctx.store.delete_pending(&pending.id).await? {
        return Ok(FormOutcome::Expired);
    }
    let at = ctx.clock.now();
    let response = login::issue_code(
        ctx,
        &pending.request,
        &client,
        &citizen,
        &session,
        choice,
        at,
    )
    .await?;
    Ok(FormOutcome::Next(Step::Respond(response), None))
}

/// What the citizen may log in as at this client: a professional identity when asked for
/// (`acr_values` with the Professional URI), a power of attorney at a public client that
/// asks for `privileges`, or simply themselves.
pub(crate) async fn choices(
    ctx: &Context,
    request: &AuthorizationRequest,
    client: &Client,
    citizen: &Citizen,
    at: i64,
) -> Result<Choices, InternalError> {
    if request
        .acr_values
        .iter()
        .any(|value| value == claims::PROFESSIONAL_URI)
    {
        let employments = ctx.registry.employments(citizen.id).await?;
        return Ok(match employments.as_slice() {
            [] => Choices::Denied("the citizen has no professional identity"),
            [only] => Choices::Decided(Choice::Professional(only.pro_uuid)),
            several => Choices::Ask(
                several
                    .iter()
                    .map(|employment| {
                        (
                            Choice::Professional(employment.pro_uuid),
                            format!(
                                "{} (CVR {})",
                                employment.organisation.name.as_str(),
                                employment.organisation.cvr.as_str()
                            ),
                        )
                    })
                    .collect(),
            ),
        });
    }
    let wants_privileges = request.scopes.iter().any(|scope| scope == "privileges");
    if !(client.public_authority && wants_privileges) {
        return Ok(Choices::Decided(Choice::Myself));
    }
    let usable: Vec<_> = ctx
        .registry
        .powers_of_attorney(citizen.id)
        .await?
        .into_iter()
        .filter(|poa| poa.is_usable(at) && may_name_principal(client, &poa.principal))
        .collect();
    if usable.is_empty() {
        return Ok(Choices::Decided(Choice::Myself));
    }
    let mut options = vec![(Choice::Myself, String::new())];
    for poa in usable {
        let principal = match ctx.registry.principal_citizen(&poa.principal).await? {
            Some(id) => match ctx.registry.find_citizen_by_id(id).await {
                Ok(principal) if !principal.name_protected => principal.full_name(),
                _ => poa.principal.label(),
            },
            None => poa.principal.label(),
        };
        let privileges: Vec<&str> = poa.privileges.iter().map(|p| p.as_str()).collect();
        options.push((
            Choice::Attorney(poa.id),
            format!("{principal}: {}", privileges.join(", ")),
        ));
    }
    Ok(Choices::Ask(options))
}
