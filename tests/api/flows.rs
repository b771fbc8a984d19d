//! The provider's flows in process: no HTTP server, an in-memory SQLite database and a clock that
//! moves only when a test moves it, so expiry, rotation, SSO and step-up are tested in seconds
//! with exact instants, beside the HTTP tests of the same behaviour.
//!
//! Every call into `oidc_provider::flows` goes through [`Flow`], and every error becomes its
//! RFC code string there: when the flows' signatures or error types change, only the harness
//! at the top of this file follows.

use crate::helpers::{jwt_claims, Pkce, CPR, LOW, SUBSTANTIAL};
use citizen_registry::Citizen;
use oidc_provider::context::{Clock, Context};
use oidc_provider::flows::error::OAuthError;
use oidc_provider::flows::login::{FormOutcome, LoginStage, Step};
use secrecy::{ExposeSecret, SecretString};
use segl::settings::Settings;
use segl::Services;
use std::sync::Arc;

const USER_ID: &str = "anna.jensen";
const PASSWORD: &str = "correct horse battery staple";
const CLIENT_ID: &str = "portal";
const REDIRECT_URI: &str = "http://localhost:9001/cb";

// ---------------------------------------------------------------------------------------------
// The harness: the only code here that names a flow function, a flow type or a flow error.
// ---------------------------------------------------------------------------------------------

/// RFC 6749 5.2 and RFC 6750 3.1: the `error` code the endpoint answers with.
fn oauth_error_code(error: &OAuthError) -> String {
    match error {
        OAuthError::InvalidRequest(_) => "invalid_request",
        OAuthError::InvalidClient(_) => "invalid_client",
        OAuthError::InvalidGrant(_) => "invalid_grant",
        OAuthError::UnauthorizedClient(_) => "unauthorized_client",
        OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
        OAuthError::InvalidScope(_) => "invalid_scope",
        OAuthError::InvalidToken(_) => "invalid_token",
        OAuthError::AccessDenied(_) => "access_denied",
        OAuthError::Internal(_) => "server_error",
    }
    .to_owned()
}

/// What the browser is sent to next, reduced to what these tests assert on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Back to the client with a code.
    Code(String),
    /// Back to the client with this `error` code (RFC 6749 4.1.2.1).
    Error(String),
    /// The login page of this pending request.
    Login(String),
    /// The page explaining that the level cannot be reached (then `access_denied`).
    Denied,
    /// The error page (never a redirect).
    ErrorPage,
    /// A form was answered "this login expired" (gone, expired, or not this browser's).
    Expired,
    /// A form was shown again with a problem (wrong password or code).
    Retry,
}

/// The stage of a login page: which form the citizen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Password,
    OneTimeCode,
    Passkey,
    Choose,
}

/// The tokens of a successful token response.
#[derive(Debug)]
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// One citizen's browser at one client, over a provider built as `segl::Application` builds it,
/// on an in-memory database, with a fixed clock.
struct Flow {
    ctx: Context,
    clock: Clock,
    /// Holds the pool (one connection: the in-memory database lives as long as it does).
    services: Services,
    citizen: Citizen,
    client_secret: String,
    /// The browser-binding cookie (`segl_browser`), set by the provider on the first login.
    browser: Option<String>,
    /// The SSO session cookie (`segl_session`), set when a login completes.
    session: Option<String>,
}

impl Flow {
    /// A provider on a fresh in-memory database with one citizen (with a TOTP authenticator if
    /// asked) and one confidential client registered for refresh tokens.
    async fn new(with_totp: bool) -> Flow {
        let template = signing_keys().await;
        let mut settings = Settings::for_tests("sqlite::memory:");
        // An in-memory database has no folder for a key file: the master key must be set
        // (`segl::master_key`); the template's, which sealed the signing keys copied below.
        settings.secrets.master_key = SecretString::from(template.master_key.clone());
        let services = Services::open(&settings).await.expect("services open");
        let clock = Clock::fixed(Clock::system().now());
        let citizen =
            crate::helpers::register_citizen(&services.registry, CPR, USER_ID, PASSWORD, with_totp)
                .await;
        let client_secret = add_client(&services, &clock).await;
        let store = &services.provider_store;
        let version = store
            .find_signing_keys_version()
            .await
            .expect("key version");
        let copied = store
            .update_signing_keys(&template.keys, &[], &[], clock.now(), version)
            .await
            .expect("signing keys copied");
        assert!(copied, "the new database has no keys yet");
        let keys = Arc::new(services.key_ring().await.expect("key ring"));
        let ctx = Context::new(
            services.provider_store.clone(),
            services.registry.clone(),
            settings.provider_settings(),
            keys,
            &services.master_key,
        )
        .expect("provider context")
        .with_clock(clock.clone());
        Flow {
            ctx,
            clock,
            services,
            citizen,
            client_secret,
            browser: None,
            session: None,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn advance(&self, seconds: i64) {
        self.clock.advance(seconds);
    }

    fn settings(&self) -> oidc_provider::context::ProviderSettings {
        self.ctx.settings().clone()
    }

    /// The browser's record of a step: cookies it is given, and where it goes.
    fn follow(&mut self, step: Step) -> Next {
        match step {
            Step::Respond(response) => {
                let parameter = |name: &str| {
                    response
                        .parameters()
                        .iter()
                        .find(|(key, _)| *key == name)
                        .map(|(_, value)| value.clone())
                };
                assert_eq!(response.redirect_uri, REDIRECT_URI, "back to the client");
                match (parameter("code"), parameter("error")) {
                    (Some(code), None) => Next::Code(code),
                    (None, Some(error)) => Next::Error(error),
                    other => panic!("a response has a code or an error: {other:?}"),
                }
            }
            Step::Login {
                pending_id,
                new_browser_binding,
            } => {
                if let Some(binding) = new_browser_binding {
                    self.browser = Some(binding);
                }
                Next::Login(pending_id)
            }
            Step::Denied { .. } => Next::Denied,
            Step::ErrorPage(_) => Next::ErrorPage,
        }
    }

    fn form_outcome(&mut self, outcome: FormOutcome) -> Next {
        match outcome {
            FormOutcome::Next(step, new_session) => {
                if let Some(session) = new_session {
                    self.session = Some(session.cookie_value);
                }
                self.follow(step)
            }
            FormOutcome::Retry(..) => Next::Retry,
            FormOutcome::Expired => Next::Expired,
            FormOutcome::Overloaded => panic!("password checking shed load in a test"),
        }
    }

    /// `/authorize` with the standard parameters (code, S256, state, nonce, `openid profile`)
    /// plus `extra` (which replace a standard one of the same name).
    async fn authorize(&mut self, extra: &[(&str, &str)]) -> (Next, Pkce) {
        let pkce = Pkce::new();
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), CLIENT_ID.into()),
            ("redirect_uri".into(), REDIRECT_URI.into()),
            ("scope".into(), "openid profile".into()),
            ("state".into(), uuid::Uuid::new_v4().to_string()),
            ("nonce".into(), uuid::Uuid::new_v4().to_string()),
            ("code_challenge".into(), pkce.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (name, value) in extra {
            params.retain(|(existing, _)| existing != name);
            params.push(((*name).to_owned(), (*value).to_owned()));
        }
        let step = oidc_provider::flows::authorize::authorize(
            &self.ctx,
            &params,
            self.session.as_deref(),
            self.browser.as_deref(),
        )
        .await
        .expect("authorize");
        (self.follow(step), pkce)
    }

    /// The login page's stage and CSRF token (None: the pending login is expired or gone).
    async fn login_page(&self, pending_id: &str) -> Option<(Stage, String)> {
        oidc_provider::flows::login::login_view(&self.ctx, pending_id, self.browser.as_deref())
            .await
            .expect("login view")
            .map(|view| {
                let stage = match view.stage {
                    LoginStage::Password => Stage::Password,
                    LoginStage::OneTimeCode => Stage::OneTimeCode,
                    LoginStage::Passkey => Stage::Passkey,
                    LoginStage::Choose => Stage::Choose,
                };
                (stage, view.csrf_token)
            })
    }

    async fn submit_password(&mut self, pending_id: &str, csrf: &str) -> Next {
        let outcome = oidc_provider::flows::login::password::submit_password(
            &self.ctx,
            pending_id,
            self.browser.as_deref(),
            csrf,
            USER_ID,
            SecretString::from(PASSWORD.to_owned()),
            Some("127.0.0.1".to_owned()),
        )
        .await
        .expect("password step");
        self.form_outcome(outcome)
    }

    /// The one-time code form with the citizen's current TOTP code.
    async fn submit_code(&mut self, pending_id: &str, csrf: &str) -> Next {
        let code = self
            .services
            .registry
            .current_totp_code(self.citizen.id)
            .await
            .expect("TOTP code");
        let outcome = oidc_provider::flows::login::second_factor::submit_code(
            &self.ctx,
            pending_id,
            self.browser.as_deref(),
            csrf,
            &code,
            Some("127.0.0.1".to_owned()),
        )
        .await
        .expect("code step");
        self.form_outcome(outcome)
    }

    /// A password login from `/authorize` to the code (the level must need no second factor).
    async fn login_to_code(&mut self, extra: &[(&str, &str)]) -> (String, Pkce) {
        let (next, pkce) = self.authorize(extra).await;
        let Next::Login(pending_id) = next else {
            panic!("authorize asks for a login: {next:?}");
        };
        let (stage, csrf) = self.login_page(&pending_id).await.expect("login page");
        assert_eq!(stage, Stage::Password);
        match self.submit_password(&pending_id, &csrf).await {
            Next::Code(code) => (code, pkce),
            other => panic!("the password login ends with a code: {other:?}"),
        }
    }

    /// The token endpoint with `client_secret_basic`.
    async fn token(&self, form: &[(&str, &str)]) -> Result<Tokens, String> {
        use base64::Engine;
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{CLIENT_ID}:{}", self.client_secret));
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        oidc_provider::flows::token::token(&self.ctx, &form, Some(&format!("Basic {credentials}")))
            .await
            .map(|response| Tokens {
                access_token: response.access_token,
                refresh_token: response.refresh_token,
                id_token: response.id_token,
            })
            .map_err(|error| oauth_error_code(&error))
    }

    async fn exchange(&self, code: &str, pkce: &Pkce) -> Result<Tokens, String> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &pkce.verifier),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<Tokens, String> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn userinfo(&self, access_token: &str) -> Result<serde_json::Value, String> {
        oidc_provider::flows::userinfo::userinfo(&self.ctx, access_token)
            .await
            .map_err(|error| oauth_error_code(&error))
    }
}

/// Signing keys made once for the whole module, sealed with one master key. Generating them
/// (two RSA keys among them) takes seconds, longer than the rest of a test; each test's
/// database gets a copy, and `KeyRing::load` finds a complete set and generates nothing.
struct KeyTemplate {
    master_key: String,
    keys: Vec<oidc_provider::store::StoredKey>,
}

async fn signing_keys() -> &'static KeyTemplate {
    static TEMPLATE: tokio::sync::OnceCell<KeyTemplate> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let settings = Settings::for_tests("sqlite::memory:");
            let services = Services::open(&settings).await.expect("services open");
            services.key_ring().await.expect("signing keys generated");
            KeyTemplate {
                master_key: settings.secrets.master_key.expose_secret().to_owned(),
                keys: services
                    .provider_store
                    .find_signing_keys()
                    .await
                    .expect("signing keys"),
            }
        })
        .await
}

/// A `client_secret_basic` client registered for refresh tokens; returns its secret.
async fn add_client(services: &Services, clock: &Clock) -> String {
    let registration = oidc_provider::client::ClientRegistration {
        id: CLIENT_ID.to_owned(),
        name: "Portal".to_owned(),
        redirect_uris: vec![REDIRECT_URI.to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec!["profile".to_owned()],
        refresh_tokens: true,
        ..Default::default()
    };
    let (client, generated) = registration
        .validate(&segl::clients::supported_scopes())
        .expect("valid client registration");
    let added = services
        .provider_store
        .upsert_client(&client, "test", false, clock.now())
        .await
        .expect("client stored");
    assert!(added, "client id {CLIENT_ID} is new");
    generated.expect("a secret is generated")
}

fn sorted_amr(claims: &serde_json::Value) -> Vec<String> {
    let mut amr: Vec<String> = claims["amr"]
        .as_array()
        .expect("amr is an array")
        .iter()
        .map(|value| value.as_str().expect("amr values are strings").to_owned())
        .collect();
    amr.sort();
    amr
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/// RFC 6749 4.1.2: a code lives `code_lifetime_seconds`; the last second inside works.
#[tokio::test]
async fn a_code_works_until_its_lifetime_and_not_a_second_longer() {
    let mut flow = Flow::new(false).await;
    let lifetime = flow.settings().code_lifetime_seconds;

    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    flow.advance(lifetime - 1);
    let tokens = flow
        .exchange(&code, &pkce)
        .await
        .expect("a code one second inside its lifetime is redeemed");
    let id_token = jwt_claims(&tokens.id_token.expect("an ID token"));
    assert_eq!(id_token["iat"], flow.now());

    // The session answers the next request at once (SSO): a second code, with no login.
    let (next, pkce) = flow.authorize(&[("acr_values", LOW)]).await;
    let Next::Code(code) = next else {
        panic!("SSO issues a code: {next:?}");
    };
    flow.advance(lifetime);
    assert_eq!(
        flow.exchange(&code, &pkce).await.map(|_| ()),
        Err("invalid_grant".to_owned()),
        "a code at the end of its lifetime has expired"
    );
}

/// RFC 6749 4.1.2 and RFC 9700 4.5: a replayed code revokes the access token and the refresh
/// token issued from its first redemption.
#[tokio::test]
async fn a_replayed_code_is_invalid_grant_and_revokes_what_it_issued() {
    let mut flow = Flow::new(false).await;
    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    let first = flow.exchange(&code, &pkce).await.expect("first redemption");
    let refresh_token = first.refresh_token.expect("a refresh token");
    let claims = flow
        .userinfo(&first.access_token)
        .await
        .expect("the access token works before the replay");
    let id_token = jwt_claims(&first.id_token.expect("an ID token"));
    assert_eq!(claims["sub"], id_token["sub"]);

    flow.advance(1);
    assert_eq!(
        flow.exchange(&code, &pkce).await.map(|_| ()),
        Err("invalid_grant".to_owned()),
        "a replayed code"
    );
    assert_eq!(
        flow.userinfo(&first.access_token).await,
        Err("invalid_token".to_owned()),
        "the access token of the first redemption is revoked"
    );
    assert_eq!(
        flow.refresh(&refresh_token).await.map(|_| ()),
        Err("invalid_grant".to_owned()),
        "the refresh token of the first redemption is revoked"
    );
}

/// RFC 9700 4.14.2: each refresh rotates the token; a used one presented again revokes the
/// whole family, the newest token and the access tokens included.
#[tokio::test]
async fn a_reused_refresh_token_revokes_its_family() {
    let mut flow = Flow::new(false).await;
    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    let issued = flow.exchange(&code, &pkce).await.expect("code redeemed");
    let first = issued.refresh_token.expect("a refresh token");

    flow.advance(10);
    let rotated = flow.refresh(&first).await.expect("the first refresh works");
    let second = rotated.refresh_token.expect("a new refresh token");
    assert_ne!(second, first, "the refresh token rotates");
    assert!(rotated.id_token.is_none(), "a refresh issues no ID token");
    flow.userinfo(&rotated.access_token)
        .await
        .expect("the refreshed access token works");

    flow.advance(10);
    let newest = flow
        .refresh(&second)
        .await
        .expect("the new refresh token works");
    let third = newest.refresh_token.expect("a newer refresh token");

    flow.advance(10);
    assert_eq!(
        flow.refresh(&first).await.map(|_| ()),
        Err("invalid_grant".to_owned()),
        "a used refresh token presented again"
    );
    assert_eq!(
        flow.refresh(&third).await.map(|_| ()),
        Err("invalid_grant".to_owned()),
        "the newest refresh token of the family is revoked too"
    );
    assert_eq!(
        flow.refresh(&second).await.map(|_| ()),
        Err("invalid_grant".to_owned())
    );
    for access_token in [&rotated.access_token, &newest.access_token] {
        assert_eq!(
            flow.userinfo(access_token).await,
            Err("invalid_token".to_owned()),
            "the family's access tokens are revoked"
        );
    }
}

/// A pending login lives `login_lifetime_seconds`: the password form of one left that long is
/// answered "expired", and its page is gone; one second earlier the same form completes.
#[tokio::test]
async fn a_pending_login_expires_at_the_password_step() {
    let mut flow = Flow::new(false).await;
    let lifetime = flow.settings().login_lifetime_seconds;
    let mut started = Vec::new();
    for _ in 0..2 {
        let (next, _) = flow.authorize(&[("acr_values", LOW)]).await;
        let Next::Login(pending_id) = next else {
            panic!("a login: {next:?}");
        };
        let (stage, csrf) = flow.login_page(&pending_id).await.expect("login page");
        assert_eq!(stage, Stage::Password);
        started.push((pending_id, csrf));
    }
    let [(inside, inside_csrf), (late, late_csrf)] = &started[..] else {
        panic!("two pending logins");
    };

    flow.advance(lifetime - 1);
    assert!(
        matches!(
            flow.submit_password(inside, inside_csrf).await,
            Next::Code(_)
        ),
        "a login one second inside its lifetime completes"
    );

    flow.advance(1);
    assert_eq!(flow.submit_password(late, late_csrf).await, Next::Expired);
    assert_eq!(flow.login_page(late).await, None, "the page is gone too");
}

/// OIDC Core 3.1.2.1: a live session at the level issues a code with no page; once idle for
/// `session.idle_seconds`, `prompt=none` is `login_required`. Each use keeps it alive.
#[tokio::test]
async fn sso_issues_codes_until_the_session_is_idle_too_long() {
    let mut flow = Flow::new(false).await;
    let idle = flow.settings().session.idle_seconds;
    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    let first = flow.exchange(&code, &pkce).await.expect("first login");
    let first = jwt_claims(&first.id_token.expect("an ID token"));
    let login_time = flow.now();
    assert_eq!(first["auth_time"], login_time);

    flow.advance(idle - 1);
    let (next, pkce) = flow.authorize(&[("acr_values", LOW)]).await;
    let Next::Code(code) = next else {
        panic!("SSO answers at once with a code: {next:?}");
    };
    let second = flow
        .exchange(&code, &pkce)
        .await
        .expect("SSO code redeemed");
    let second = jwt_claims(&second.id_token.expect("an ID token"));
    assert_eq!(second["sid"], first["sid"], "the same session");
    assert_eq!(second["sub"], first["sub"]);
    assert_eq!(
        second["auth_time"], login_time,
        "SSO is no new authentication"
    );
    assert_eq!(second["acr"], LOW);

    // That use moved the idle deadline: another idle - 1 seconds, and prompt=none still works.
    flow.advance(idle - 1);
    let (next, _) = flow
        .authorize(&[("acr_values", LOW), ("prompt", "none")])
        .await;
    assert!(matches!(next, Next::Code(_)), "still live: {next:?}");

    flow.advance(idle);
    let (next, _) = flow
        .authorize(&[("acr_values", LOW), ("prompt", "none")])
        .await;
    assert_eq!(next, Next::Error("login_required".to_owned()));
    let (next, _) = flow.authorize(&[("acr_values", LOW)]).await;
    let Next::Login(pending_id) = next else {
        panic!("without prompt=none, a new login: {next:?}");
    };
    let (stage, _) = flow.login_page(&pending_id).await.expect("login page");
    assert_eq!(stage, Stage::Password, "from the first factor");
}

/// NSIS step-up (`crate::session`): a Low session asked for Substantial asks only for the
/// missing factor; the raised session keeps its sid, and `auth_time` moves to when the factor
/// that completed the level was verified (`SsoSession::auth_time`).
#[tokio::test]
async fn a_step_up_asks_only_for_the_missing_factor_and_moves_auth_time() {
    let mut flow = Flow::new(true).await;
    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    let password_time = flow.now();
    let low = flow.exchange(&code, &pkce).await.expect("Low login");
    let low = jwt_claims(&low.id_token.expect("an ID token"));
    assert_eq!(low["acr"], LOW);
    assert_eq!(low["auth_time"], password_time);
    assert_eq!(sorted_amr(&low), ["pwd"]);

    flow.advance(120);
    let (next, pkce) = flow.authorize(&[("acr_values", SUBSTANTIAL)]).await;
    let Next::Login(pending_id) = next else {
        panic!("a step-up shows the login page: {next:?}");
    };
    let (stage, csrf) = flow.login_page(&pending_id).await.expect("login page");
    assert_eq!(stage, Stage::OneTimeCode, "only the missing factor");
    assert_eq!(
        flow.submit_password(&pending_id, &csrf).await,
        Next::Expired,
        "the password form is not an answer to a step-up"
    );
    assert_eq!(
        flow.login_page(&pending_id).await.map(|(stage, _)| stage),
        Some(Stage::OneTimeCode),
        "and it does not spoil the step-up"
    );

    flow.advance(30);
    let code_time = flow.now();
    let session_before = flow.session.clone();
    let Next::Code(code) = flow.submit_code(&pending_id, &csrf).await else {
        panic!("the one-time code completes the step-up");
    };
    assert_eq!(
        flow.session, session_before,
        "the session is raised, not replaced"
    );
    let substantial = flow.exchange(&code, &pkce).await.expect("step-up code");
    let substantial = jwt_claims(&substantial.id_token.expect("an ID token"));
    assert_eq!(substantial["acr"], SUBSTANTIAL);
    assert_eq!(sorted_amr(&substantial), ["mfa", "otp", "pwd"]);
    assert_eq!(
        substantial["auth_time"], code_time,
        "auth_time is when the code completed the level, not the password's {password_time}"
    );
    assert_eq!(substantial["sid"], low["sid"], "the same session, raised");
    assert_eq!(substantial["sub"], low["sub"]);

    // The raised session now answers Substantial at once.
    flow.advance(60);
    let (next, _) = flow
        .authorize(&[("acr_values", SUBSTANTIAL), ("prompt", "none")])
        .await;
    assert!(
        matches!(next, Next::Code(_)),
        "SSO at Substantial: {next:?}"
    );
}

/// RFC 9068 4, RFC 7519 4.1.4 and RFC 6750 3.1: an access token at its `exp` is `invalid_token`,
/// by the flow's clock (the key ring checks `exp` against the time the flow gives it).
#[tokio::test]
async fn an_access_token_expires_by_the_flows_clock() {
    let mut flow = Flow::new(false).await;
    let lifetime = flow.settings().access_token_lifetime_seconds;
    let (code, pkce) = flow.login_to_code(&[("acr_values", LOW)]).await;
    let tokens = flow.exchange(&code, &pkce).await.expect("code redeemed");

    flow.advance(lifetime - 1);
    flow.userinfo(&tokens.access_token)
        .await
        .expect("one second inside its lifetime");
    flow.advance(1);
    assert_eq!(
        flow.userinfo(&tokens.access_token).await,
        Err("invalid_token".to_owned()),
        "an access token at its exp"
    );
}
