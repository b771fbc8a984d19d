//! The citizen's own page at the provider: their live SSO sessions, and ending any of them
//! (docs/NEMLOGIN.md section 4); their authenticators, and enrolling an authenticator app or a
//! passkey behind a fresh login at the level the factor gives. Only replacing an app is
//! self-service: the first one is enrolled by an administrator. Reached with the SSO session
//! cookie; nothing else is shown.

use crate::context::Context;
use crate::error::InternalError;
use crate::flows;
use crate::flows::logout;
use crate::passkey::PasskeyError;
use crate::session::SsoSession;
use crate::store::Challenge;
use crate::{level, tokens};
use citizen_registry::{
    AssuranceLevel, AuthenticationError, Citizen, LoginContext, RegistryError, TotpConfirmation,
    TotpOutcome,
};
use secrecy::SecretString;
use subtle::ConstantTimeEq;

/// Enrolling a factor needs a login this recent (seconds since `auth_time`) to show the form.
pub const FRESH_LOGIN_SECONDS: i64 = 300;

/// ... and this recent to accept it (the citizen may take a while with the app or the key).
pub(crate) const FRESH_SUBMIT_SECONDS: i64 = 900;

/// How long a passkey registration ceremony lives.
pub(crate) const CHALLENGE_SECONDS: i64 = 300;

/// A factor a citizen can enrol from the account page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrolment {
    AuthenticatorApp,
    Passkey,
}

impl Enrolment {
    /// The fresh login it needs (issue #4: "a fresh login at the level the factor would give,
    /// or an administrator"). An app gives Substantial, so enrolling one needs the password and
    /// the current app's code: only replacing an app is self-service, and a citizen's first
    /// app is enrolled by an administrator (`segl citizen totp enroll`) who checks their
    /// identity. Otherwise anyone who knew a password could raise the account to Substantial.
    /// A passkey gives High (capped by the IAL an administrator set); its fresh login is the
    /// level below, Substantial.
    pub fn needs(self) -> AssuranceLevel {
        match self {
            Self::AuthenticatorApp | Self::Passkey => AssuranceLevel::Substantial,
        }
    }

    /// Whether the citizen can give that fresh login on the account page: the form asks for
    /// the password, and at Substantial for the app's code, so without an app it cannot.
    pub fn can_reauthenticate(self, has_totp: bool) -> bool {
        self.needs() < AssuranceLevel::Substantial || has_totp
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "totp" => Some(Self::AuthenticatorApp),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthenticatorApp => "totp",
            Self::Passkey => "passkey",
        }
    }
}

/// Whether the browser may enrol a factor now.
#[derive(Debug)]
pub enum Gate {
    /// No live session in this browser.
    NotLoggedIn,
    /// The login is not fresh, or below the level needed: ask for the password (and the
    /// app's code when `needs_code`).
    Reauthenticate {
        enrolment: Enrolment,
        csrf_token: String,
        needs_code: bool,
    },
    /// The fresh login cannot be given on the account page: the citizen has no authenticator
    /// app (the first one is enrolled by an administrator; a passkey needs one first).
    Unreachable(Enrolment),
    /// Passkeys are off on this provider (its issuer is an IP address).
    PasskeysOff,
    Ready(Box<Fresh>),
}

/// A live, fresh enough session and its citizen.
#[derive(Debug)]
pub struct Fresh {
    pub citizen: Citizen,
    pub session: SsoSession,
    pub csrf_token: String,
}

/// The authenticator-app enrolment form.
#[derive(Debug, Clone)]
pub struct TotpForm {
    pub csrf_token: String,
    pub otpauth_uri: String,
    pub secret_base32: String,
    /// Sealed secret and time, carried by the form until the first code confirms it.
    pub enrolment: String,
}

/// The passkey enrolment form.
#[derive(Debug, Clone)]
pub struct PasskeyForm {
    pub csrf_token: String,
    pub challenge_id: String,
    pub options_json: String,
}

/// The result of a re-authentication.
#[derive(Debug)]
pub enum Reauthentication {
    Done,
    Failed(Gate),
    Overloaded,
}

/// The result of an enrolment form.
#[derive(Debug)]
pub enum EnrolmentOutcome {
    Enrolled,
    /// The app's first code did not match: the form again.
    WrongCode(TotpForm),
    /// The passkey's answer did not verify, or the form expired.
    Refused,
    Gate(Gate),
}

/// One passkey as the citizen sees it.
#[derive(Debug, Clone)]
pub struct PasskeyView {
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

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
    pub has_totp: bool,
    pub passkeys: Vec<PasskeyView>,
    /// Whether this provider offers passkeys (its issuer is on a domain name).
    pub passkeys_available: bool,
}

pub(crate) fn account_token(session_cookie: &str) -> String {
    tokens::sha256_hex(&format!("account:{session_cookie}"))
}

/// The browser's live session, if any.
pub(crate) async fn live_session(
    ctx: &Context,
    session_cookie: Option<&str>,
) -> Result<Option<SsoSession>, InternalError> {
    let Some(cookie) = session_cookie else {
        return Ok(None);
    };
    let session = ctx.store.find_session(&tokens::sha256_hex(cookie)).await?;
    Ok(session.filter(|session| session.is_live(&ctx.settings.session, ctx.clock.now())))
}

/// The account page's content, or None when the browser has no live session.
pub async fn account(
    ctx: &Context,
    session_cookie: Option<&str>,
) -> Result<Option<AccountView>, InternalError> {
    let Some(current) = live_session(ctx, session_cookie).await? else {
        return Ok(None);
    };
    let Some(citizen) = flows::active_citizen(ctx, current.citizen_id).await? else {
        return Ok(None);
    };
    let at = ctx.clock.now();
    let mut sessions = Vec::new();
    for session in ctx.store.find_sessions_of(citizen.id, at).await? {
        if !session.is_live(&ctx.settings.session, at) {
            continue;
        }
        let mut clients = Vec::new();
        for (client_id, _) in ctx.store.find_session_clients(&session.sid).await? {
            let name = ctx
                .store
                .find_client(&client_id)
                .await?
                .map_or(client_id, |client| client.name);
            clients.push(name);
        }
        sessions.push(SessionView {
            is_current: session.sid == current.sid,
            expires_at: session.expires_at(&ctx.settings.session),
            level: session.aal.as_str(),
            started_at: session.auth_time,
            last_seen_at: session.last_seen_at,
            sid: session.sid,
            clients,
        });
    }
    let passkeys = ctx
        .registry
        .passkeys(citizen.id)
        .await?
        .into_iter()
        .map(|passkey| PasskeyView {
            name: passkey.name,
            created_at: passkey.created_at,
            last_used_at: passkey.last_used_at,
        })
        .collect();
    Ok(Some(AccountView {
        name: citizen.full_name(),
        sessions,
        csrf_token: session_cookie.map(account_token).unwrap_or_default(),
        has_totp: citizen.has_totp,
        passkeys,
        passkeys_available: ctx.passkeys.is_available(),
    }))
}

/// Ends one of the citizen's own sessions (with logout at its clients). Returns false when
/// the form is not this browser's or the session is not the citizen's.
pub async fn end_own_session(
    ctx: &Context,
    session_cookie: Option<&str>,
    csrf_token: &str,
    sid: &str,
) -> Result<bool, InternalError> {
    let (Some(cookie), Some(current)) = (session_cookie, live_session(ctx, session_cookie).await?)
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
    let Some(target) = ctx.store.find_session_by_sid(sid).await? else {
        return Ok(false);
    };
    if target.citizen_id != current.citizen_id {
        return Ok(false);
    }
    logout::end_everywhere(ctx, &target.sid, target.citizen_id).await?;
    Ok(true)
}

pub(crate) fn csrf_matches(session_cookie: &str, csrf_token: &str) -> bool {
    bool::from(
        csrf_token
            .as_bytes()
            .ct_eq(account_token(session_cookie).as_bytes()),
    )
}

/// May this browser enrol `enrolment` now? `max_age`: how recent the login must be.
pub(crate) async fn gate(
    ctx: &Context,
    session_cookie: Option<&str>,
    enrolment: Enrolment,
    max_age: i64,
) -> Result<Gate, InternalError> {
    let (Some(cookie), Some(session)) = (session_cookie, live_session(ctx, session_cookie).await?)
    else {
        return Ok(Gate::NotLoggedIn);
    };
    let Some(citizen) = flows::active_citizen(ctx, session.citizen_id).await? else {
        return Ok(Gate::NotLoggedIn);
    };
    let needs = enrolment.needs();
    let csrf_token = account_token(cookie);
    if ctx.clock.now() - session.auth_time > max_age || session.aal < needs {
        if !enrolment.can_reauthenticate(citizen.has_totp) {
            return Ok(Gate::Unreachable(enrolment));
        }
        return Ok(Gate::Reauthenticate {
            enrolment,
            csrf_token,
            needs_code: needs >= AssuranceLevel::Substantial,
        });
    }
    Ok(Gate::Ready(Box::new(Fresh {
        citizen,
        session,
        csrf_token,
    })))
}

/// The fresh login for an enrolment: the citizen's password, and the app's code when the
/// enrolment needs Substantial. On success the session's `auth_time` moves to now.
pub async fn reauthenticate(
    ctx: &Context,
    session_cookie: Option<&str>,
    csrf_token: &str,
    enrolment: Enrolment,
    password: SecretString,
    code: Option<&str>,
    ip: Option<String>,
) -> Result<Reauthentication, InternalError> {
    let (Some(cookie), Some(session)) = (session_cookie, live_session(ctx, session_cookie).await?)
    else {
        return Ok(Reauthentication::Failed(Gate::NotLoggedIn));
    };
    if !csrf_matches(cookie, csrf_token) {
        return Ok(Reauthentication::Failed(Gate::NotLoggedIn));
    }
    let Some(citizen) = flows::active_citizen(ctx, session.citizen_id).await? else {
        return Ok(Reauthentication::Failed(Gate::NotLoggedIn));
    };
    if !enrolment.can_reauthenticate(citizen.has_totp) {
        return Ok(Reauthentication::Failed(Gate::Unreachable(enrolment)));
    }
    let needs = enrolment.needs();
    let again = Gate::Reauthenticate {
        enrolment,
        csrf_token: account_token(cookie),
        needs_code: needs >= AssuranceLevel::Substantial,
    };
    let context = LoginContext {
        ip,
        client_id: None,
    };
    match ctx
        .registry
        .authenticate_password(citizen.user_id.as_str(), password, &context)
        .await
    {
        Ok(authenticated) if authenticated.id == citizen.id => {}
        Ok(_) => return Ok(Reauthentication::Failed(again)),
        Err(AuthenticationError::Overloaded) => return Ok(Reauthentication::Overloaded),
        Err(AuthenticationError::Storage(error)) => {
            return Err(InternalError::Registry(RegistryError::Storage(error)))
        }
        Err(_) => return Ok(Reauthentication::Failed(again)),
    }
    let mut amr = Vec::new();
    level::add_factor(&mut amr, &["pwd"]);
    if needs >= AssuranceLevel::Substantial {
        let code = code.unwrap_or_default();
        match ctx.registry.verify_totp(citizen.id, code, &context).await {
            Ok(TotpOutcome::Accepted) => level::add_factor(&mut amr, &["otp"]),
            Ok(TotpOutcome::Rejected) | Err(RegistryError::NoTotp) => {
                return Ok(Reauthentication::Failed(again))
            }
            Err(error) => return Err(error.into()),
        }
    }
    // The session keeps any stronger factor it had; the fresh login sets auth_time.
    for factor in &session.amr {
        level::add_factor(&mut amr, &[factor.as_str()]);
    }
    let aal = level::authenticator_level(&amr).unwrap_or(AssuranceLevel::Low);
    ctx.store
        .update_session_reauthenticated(&session.sid, &amr, aal.max(session.aal), ctx.clock.now())
        .await?;
    Ok(Reauthentication::Done)
}

/// The authenticator-app form: a new secret, not stored until confirmed.
pub async fn totp_form(
    ctx: &Context,
    session_cookie: Option<&str>,
) -> Result<Result<TotpForm, Gate>, InternalError> {
    let fresh = match gate(
        ctx,
        session_cookie,
        Enrolment::AuthenticatorApp,
        FRESH_LOGIN_SECONDS,
    )
    .await?
    {
        Gate::Ready(fresh) => fresh,
        other => return Ok(Err(other)),
    };
    let pending = ctx.registry.begin_totp_enrollment(&fresh.citizen)?;
    Ok(Ok(TotpForm {
        csrf_token: fresh.csrf_token,
        otpauth_uri: pending.enrollment.otpauth_uri,
        secret_base32: pending.enrollment.secret_base32,
        enrolment: pending.sealed,
    }))
}

/// Confirms a new authenticator app with its first code, then saves it (audited).
pub async fn confirm_totp(
    ctx: &Context,
    session_cookie: Option<&str>,
    csrf_token: &str,
    enrolment: &str,
    code: &str,
) -> Result<EnrolmentOutcome, InternalError> {
    let fresh = match gate(
        ctx,
        session_cookie,
        Enrolment::AuthenticatorApp,
        FRESH_SUBMIT_SECONDS,
    )
    .await?
    {
        Gate::Ready(fresh) => fresh,
        other => return Ok(EnrolmentOutcome::Gate(other)),
    };
    let Some(cookie) = session_cookie else {
        return Ok(EnrolmentOutcome::Gate(Gate::NotLoggedIn));
    };
    if !csrf_matches(cookie, csrf_token) {
        return Ok(EnrolmentOutcome::Refused);
    }
    match ctx
        .registry
        .confirm_totp_enrollment(&fresh.citizen, enrolment, code, "citizen")
        .await
    {
        Ok(TotpConfirmation::Enrolled) => Ok(EnrolmentOutcome::Enrolled),
        Ok(TotpConfirmation::WrongCode) => {
            let pending = ctx
                .registry
                .open_totp_enrollment(&fresh.citizen, enrolment)?;
            Ok(EnrolmentOutcome::WrongCode(TotpForm {
                csrf_token: fresh.csrf_token,
                otpauth_uri: pending.enrollment.otpauth_uri,
                secret_base32: pending.enrollment.secret_base32,
                enrolment: pending.sealed,
            }))
        }
        Err(RegistryError::EnrolmentExpired) => Ok(EnrolmentOutcome::Refused),
        Err(error) => Err(error.into()),
    }
}

/// The passkey form: a registration ceremony, its state stored in `webauthn_challenges`.
pub async fn passkey_form(
    ctx: &Context,
    session_cookie: Option<&str>,
) -> Result<Result<PasskeyForm, Gate>, InternalError> {
    if !ctx.passkeys.is_available() {
        return Ok(Err(Gate::PasskeysOff));
    }
    let fresh = match gate(ctx, session_cookie, Enrolment::Passkey, FRESH_LOGIN_SECONDS).await? {
        Gate::Ready(fresh) => fresh,
        other => return Ok(Err(other)),
    };
    let Some(cookie) = session_cookie else {
        return Ok(Err(Gate::NotLoggedIn));
    };
    let existing = ctx.registry.passkeys(fresh.citizen.id).await?;
    let started = ctx
        .passkeys
        .start_registration(
            fresh.citizen.id,
            fresh.citizen.user_id.as_str(),
            &fresh.citizen.full_name(),
            &existing,
        )
        .map_err(InternalError::Passkey)?;
    let at = ctx.clock.now();
    let challenge_id = tokens::random_token()?;
    ctx.store
        .insert_challenge(&Challenge {
            id: challenge_id.clone(),
            citizen_id: fresh.citizen.id,
            session_hash: tokens::sha256_hex(cookie),
            state: started.state,
            created_at: at,
            expires_at: at + CHALLENGE_SECONDS,
        })
        .await?;
    Ok(Ok(PasskeyForm {
        csrf_token: fresh.csrf_token,
        challenge_id,
        options_json: started.options_json,
    }))
}

/// Verifies the browser's answer to a registration and stores the passkey (audited).
pub async fn finish_passkey(
    ctx: &Context,
    session_cookie: Option<&str>,
    csrf_token: &str,
    challenge_id: &str,
    name: &str,
    credential_json: &str,
    ip: Option<String>,
) -> Result<EnrolmentOutcome, InternalError> {
    let fresh = match gate(
        ctx,
        session_cookie,
        Enrolment::Passkey,
        FRESH_SUBMIT_SECONDS,
    )
    .await?
    {
        Gate::Ready(fresh) => fresh,
        other => return Ok(EnrolmentOutcome::Gate(other)),
    };
    let Some(cookie) = session_cookie else {
        return Ok(EnrolmentOutcome::Gate(Gate::NotLoggedIn));
    };
    if !csrf_matches(cookie, csrf_token) {
        return Ok(EnrolmentOutcome::Refused);
    }
    let Some(challenge) = ctx
        .store
        .delete_challenge(challenge_id, ctx.clock.now())
        .await?
    else {
        return Ok(EnrolmentOutcome::Refused);
    };
    let session_hash = tokens::sha256_hex(cookie);
    if challenge.citizen_id != fresh.citizen.id
        || !bool::from(
            challenge
                .session_hash
                .as_bytes()
                .ct_eq(session_hash.as_bytes()),
        )
    {
        return Ok(EnrolmentOutcome::Refused);
    }
    let context = LoginContext {
        ip,
        client_id: None,
    };
    let registered = match ctx
        .passkeys
        .finish_registration(credential_json, &challenge.state)
    {
        Ok(registered) => registered,
        Err(error @ PasskeyError::State(_)) => return Err(InternalError::Passkey(error)),
        Err(error) => {
            tracing::info!(reason = %error, "passkey registration refused");
            ctx.registry
                .passkey_registration_failed(fresh.citizen.id, &context)
                .await?;
            return Ok(EnrolmentOutcome::Refused);
        }
    };
    match ctx
        .registry
        .add_passkey(
            fresh.citizen.id,
            &registered.credential_id,
            name,
            &registered.passkey,
            "citizen",
            &context,
        )
        .await
    {
        Ok(()) => Ok(EnrolmentOutcome::Enrolled),
        Err(RegistryError::DuplicatePasskey) => {
            ctx.registry
                .passkey_registration_failed(fresh.citizen.id, &context)
                .await?;
            Ok(EnrolmentOutcome::Refused)
        }
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_an_app_needs_the_current_one() {
        assert_eq!(
            Enrolment::AuthenticatorApp.needs(),
            AssuranceLevel::Substantial
        );
        assert!(Enrolment::AuthenticatorApp.can_reauthenticate(true));
    }

    #[test]
    fn a_first_app_is_not_enrolled_after_a_password_alone() {
        assert!(!Enrolment::AuthenticatorApp.can_reauthenticate(false));
    }

    #[test]
    fn a_passkey_needs_a_substantial_login_with_the_app() {
        assert_eq!(Enrolment::Passkey.needs(), AssuranceLevel::Substantial);
        assert!(Enrolment::Passkey.can_reauthenticate(true));
        assert!(!Enrolment::Passkey.can_reauthenticate(false));
    }
}
