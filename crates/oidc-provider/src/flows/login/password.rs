//! The password step of a login: checked off the async runtime by the registry, with the
//! lockout's reserved attempt, one message for every failure (no enumeration).

use crate::context::Context;
use crate::error::InternalError;
use crate::flows::login;
use crate::flows::login::second_factor;
use crate::flows::login::{FormOutcome, FormProblem};
use crate::level;
use crate::store::LoginState;
use citizen_registry::{AuthenticationError, LoginContext, RegistryError};
use secrecy::SecretString;

/// The password form.
pub async fn submit_password(
    ctx: &Context,
    pending_id: &str,
    browser_cookie: Option<&str>,
    csrf_token: &str,
    user_id: &str,
    password: SecretString,
    ip: Option<String>,
) -> Result<FormOutcome, InternalError> {
    let Some(pending) =
        login::pending_for_form(ctx, pending_id, browser_cookie, csrf_token).await?
    else {
        return Ok(FormOutcome::Expired);
    };
    // Only a fresh login takes a password: once past it (or in a step-up or a choice), the
    // form is stale.
    let LoginState::Password = pending.state else {
        return Ok(FormOutcome::Expired);
    };
    let context = LoginContext {
        ip,
        client_id: Some(pending.request.client_id.clone()),
    };
    let citizen = match ctx
        .registry
        .authenticate_password(user_id, password, &context)
        .await
    {
        Ok(citizen) => citizen,
        Err(AuthenticationError::Overloaded) => return Ok(FormOutcome::Overloaded),
        Err(AuthenticationError::Storage(error)) => {
            return Err(InternalError::Registry(RegistryError::Storage(error)))
        }
        Err(_) => {
            let name = login::client_name(ctx, &pending.request.client_id).await?;
            return Ok(FormOutcome::Retry(
                login::view(ctx, &pending, name),
                FormProblem::InvalidCredentials,
            ));
        }
    };
    let mut amr = Vec::new();
    level::add_factor(&mut amr, &["pwd"]);
    let auth_time = ctx.clock.now();
    second_factor::after_factor(ctx, pending, citizen, amr, auth_time).await
}
