//! What a login releases to a client: the claims of the ID token and of userinfo, from the
//! citizen, the identity chosen and the level reached, each release audited.

use crate::claims::{self, ActingFor, ProfessionalIdentity, Release};
use crate::client::Client;
use crate::context::Context;
use crate::error::InternalError;
use crate::flows::audit_kind;
use crate::level;
use citizen_registry::audit::AuditEvent;
use citizen_registry::Citizen;

// Kept here too for the login flow, which builds it.
pub(crate) use crate::grant::ReleaseContext;

/// Where a claim set goes, for the audit event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ReleaseTarget {
    IdToken,
    Userinfo,
}

impl ReleaseTarget {
    fn as_str(self) -> &'static str {
        match self {
            Self::IdToken => "id_token",
            Self::Userinfo => "userinfo",
        }
    }
}

/// docs/NEMLOGIN.md section 2: `loa`, `ial` and `aal` as bare words beside the `acr` URI.
pub(crate) fn level_claims(
    citizen: &Citizen,
    acr: Option<&str>,
    amr: &[String],
) -> serde_json::Map<String, serde_json::Value> {
    let mut claims = serde_json::Map::new();
    if let Some(loa) = acr.and_then(level::parse_acr) {
        claims.insert("loa".into(), loa.as_str().into());
    }
    claims.insert("ial".into(), citizen.ial.as_str().into());
    if let Some(aal) = level::authenticator_level(amr) {
        claims.insert("aal".into(), aal.as_str().into());
    }
    claims
}

/// A power of attorney for a citizen names them by CPR number in `privileges`
/// (`urn:dk:gov:saml:cprNumberIdentifier:<cpr>`), so it goes only to CPR-entitled clients;
/// one for an organisation (by CVR) to any public authority asking for `privileges`.
pub(crate) fn may_name_principal(client: &Client, principal: &citizen_registry::Principal) -> bool {
    match principal {
        citizen_registry::Principal::Citizen(_) => client.cpr_entitled,
        citizen_registry::Principal::Organisation(_) => true,
    }
}

/// docs/NEMLOGIN.md section 3: the identity claims of a grant for one target (ID token or
/// userinfo), with the login's choices; every release is audited with the claim names.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn release_claims(
    ctx: &Context,
    client: &Client,
    citizen: &Citizen,
    scopes: &[String],
    sid: &str,
    sub: &str,
    target: ReleaseTarget,
    at: i64,
) -> Result<serde_json::Map<String, serde_json::Value>, InternalError> {
    let context = ctx
        .store
        .find_release_context(sid, &client.id)
        .await?
        .unwrap_or_default();
    let professional = match context.professional {
        Some(pro_uuid) => ctx
            .registry
            .employments(citizen.id)
            .await?
            .into_iter()
            .find(|employment| employment.pro_uuid == pro_uuid)
            .map(|employment| ProfessionalIdentity {
                pro_uuid: employment.pro_uuid.to_string(),
                cvr: employment.organisation.cvr.as_str().to_owned(),
                org_name: employment.organisation.name.as_str().to_owned(),
                authorized_to_represent: if employment.authorized_to_represent {
                    vec![employment.organisation.cvr.as_str().to_owned()]
                } else {
                    Vec::new()
                },
            }),
        None => None,
    };
    let mut principal_audit = serde_json::Value::Null;
    let acting_for = match context.power_of_attorney {
        Some(id) => match ctx.registry.find_power_of_attorney(id).await? {
            // Checked again at every release: a revoked or expired one stops at once.
            Some(poa)
                if poa.agent_id == citizen.id
                    && poa.is_usable(at)
                    && may_name_principal(client, &poa.principal) =>
            {
                let principal_citizen = ctx.registry.principal_citizen(&poa.principal).await?;
                principal_audit = serde_json::json!({
                    "poa_id": poa.id.to_string(),
                    "principal": poa.principal.label(),
                    "principal_citizen_id": principal_citizen.map(|id| id.to_string()),
                });
                Some(ActingFor {
                    principal_scope: poa.principal.scope_urn(),
                    privileges: poa
                        .privileges
                        .iter()
                        .map(|privilege| privilege.as_str().to_owned())
                        .collect(),
                })
            }
            _ => None,
        },
        None => None,
    };
    let requested = match target {
        ReleaseTarget::IdToken => &context.claims.id_token,
        ReleaseTarget::Userinfo => &context.claims.userinfo,
    };
    let today = time::OffsetDateTime::from_unix_timestamp(at)?.date();
    let released = claims::release(&Release {
        citizen,
        client,
        scopes,
        requested,
        subject: sub,
        professional: professional.as_ref(),
        acting_for: acting_for.as_ref(),
        today,
    });
    let mut names: Vec<&str> = vec!["sub"];
    names.extend(released.keys().map(String::as_str));
    let event = AuditEvent::new(
        audit_kind::CLAIMS_RELEASED,
        Some(citizen.id),
        &format!("client:{}", client.id),
        at,
    )
    .with_client(&client.id)
    .with_detail(serde_json::json!({
        "to": target.as_str(),
        "claims": names,
        "acting_for": principal_audit,
    }));
    ctx.registry
        .record(vec![event])
        .await
        .map_err(InternalError::Registry)?;
    Ok(released)
}
