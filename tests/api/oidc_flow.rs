//! End-to-end OpenID Connect flows: a real relying party (the `openidconnect` crate), single
//! sign-on across clients, `prompt=none`, the second factor and step-up, form_post, cancel, and
//! what the login page and every response look like to a browser.

use crate::helpers::{
    hidden_field, jwt_claims, location, query_value, spawn_app, spawn_app_with, Pkce, Started,
    TestApp, TestClient, CPR, LOW, SUBSTANTIAL,
};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, Audience, AuthenticationContextClass, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, IssuerUrl, LocalizedClaim, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

const USER_ID: &str = "anna.jensen";
const PASSWORD: &str = "correct horse battery staple";
/// Client A and client B sit on different redirect hosts, hence different pairwise sectors.
const REDIRECT_A: &str = "http://localhost:9001/cb";
const REDIRECT_B: &str = "http://127.0.0.1:9002/cb";
/// The date of birth in `CPR` (070761-4285).
const BIRTHDATE: &str = "1961-07-07";

/// The issuer identifier that `iss` must carry (RFC 9207).
fn issuer(app: &TestApp) -> String {
    app.settings.provider_settings().issuer
}

/// Asserts that `location` is `redirect_uri` with a query, and returns that query as pairs.
fn redirect_parameters(location: &str, redirect_uri: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap_or_else(|_| panic!("absolute URL: {location}"));
    let mut base = url.clone();
    base.set_query(None);
    assert_eq!(base.as_str(), redirect_uri, "redirect target of {location}");
    url.query_pairs().into_owned().collect()
}

/// The one value of `name` in a list of pairs (panics if absent or repeated).
fn single<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    let values: Vec<&str> = pairs
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(values.len(), 1, "exactly one {name} in {pairs:?}");
    values[0]
}

fn names(pairs: &[(String, String)]) -> Vec<&str> {
    let mut names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    names
}

/// Decodes the character references an HTML escaper writes into attribute values and text.
fn decode_html(text: &str) -> String {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        decoded.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let character = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match character {
            Some(character) => {
                decoded.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                decoded.push('&');
                rest = &rest[1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// The value of attribute `name` in the first tag that starts with `tag_start`, decoded.
fn attribute(page: &str, tag_start: &str, name: &str) -> String {
    let tag_at = page
        .find(tag_start)
        .unwrap_or_else(|| panic!("no {tag_start} in page:\n{page}"));
    let tag = &page[tag_at..tag_at + page[tag_at..].find('>').expect("tag ends")];
    let marker = format!(" {name}=\"");
    let start = tag
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + marker.len();
    let end = start + tag[start..].find('"').expect("closing quote");
    decode_html(&tag[start..end])
}

/// Every `<input type="hidden">` of a page, in order, decoded.
fn hidden_fields(page: &str) -> Vec<(String, String)> {
    let marker = "<input type=\"hidden\" name=\"";
    page.match_indices(marker)
        .map(|(at, _)| {
            let rest = &page[at + marker.len()..];
            let name_end = rest.find('"').expect("name ends");
            let value_marker = "\" value=\"";
            assert!(rest[name_end..].starts_with(value_marker), "{rest}");
            let value = &rest[name_end + value_marker.len()..];
            let value_end = value.find('"').expect("value ends");
            (
                decode_html(&rest[..name_end]),
                decode_html(&value[..value_end]),
            )
        })
        .collect()
}

/// The text of the element with `role="alert"`.
fn alert_text(page: &str) -> String {
    let at = page
        .find("role=\"alert\"")
        .unwrap_or_else(|| panic!("no role=\"alert\" in page:\n{page}"));
    let content = &page[at + page[at..].find('>').expect("tag ends") + 1..];
    let content = &content[..content.find("</div>").expect("element ends")];
    let mut text = String::new();
    let mut in_tag = false;
    for character in content.chars() {
        match character {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => text.push(character),
            _ => {}
        }
    }
    decode_html(text.trim())
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .expect("ASCII header")
}

fn header_values(response: &reqwest::Response, name: &str) -> Vec<String> {
    response
        .headers()
        .get_all(name)
        .iter()
        .map(|value| value.to_str().expect("ASCII header").to_owned())
        .collect()
}

/// Redeems `code` and returns the (unverified) ID token claims; the signature is verified by
/// the `openidconnect` crate in `full_code_flow_with_the_openidconnect_crate`.
async fn id_token_claims(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    started: &Started,
) -> serde_json::Value {
    let response = app
        .exchange_code(client, code, &started.pkce.verifier)
        .await;
    assert_eq!(response.status(), 200, "token response");
    let body: serde_json::Value = response.json().await.expect("JSON token response");
    let claims = jwt_claims(body["id_token"].as_str().expect("an ID token"));
    assert_eq!(claims["nonce"], started.nonce.as_str());
    assert_eq!(claims["aud"], client.id.as_str());
    claims
}

fn sorted_amr(claims: &serde_json::Value) -> Vec<String> {
    let mut amr: Vec<String> = claims["amr"]
        .as_array()
        .expect("amr is an array")
        .iter()
        .map(|value| value.as_str().expect("amr entries are strings").to_owned())
        .collect();
    amr.sort_unstable();
    amr
}

/// Like `TestApp::authorize` (here `extra` is appended, not merged), but returns the response
/// itself, for requests answered with a page rather than a redirect.
async fn authorize_response(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> (Started, reqwest::Response) {
    let pkce = Pkce::new();
    let state = uuid::Uuid::new_v4().to_string();
    let nonce = uuid::Uuid::new_v4().to_string();
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let response = app
        .client
        .get(format!("{}/authorize", app.address))
        .query(&params)
        .send()
        .await
        .expect("authorize request");
    let started = Started {
        status: response.status().as_u16(),
        location: location(&response),
        pkce,
        state,
        nonce,
    };
    (started, response)
}

/// Starts an authorization request and returns it with the login page's path.
async fn start_login(
    app: &TestApp,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> (Started, String) {
    let started = app.authorize(client, extra).await;
    assert_eq!(started.status, 303, "authorize redirects to the login page");
    let login = started.location.clone().expect("login location");
    assert!(login.starts_with("/login?request="), "{login}");
    (started, login)
}

/// A claim without a language tag (OIDC Core 5.2).
fn localized<T: std::ops::Deref<Target = String>>(
    claim: Option<&LocalizedClaim<T>>,
) -> Option<&str> {
    claim
        .and_then(|claim| claim.get(None))
        .map(|value| value.as_str())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn full_code_flow_with_the_openidconnect_crate() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let registered = app.add_basic_client("portal", REDIRECT_A).await;

    // The relying party: discovery (with the JWKS) from the issuer, client_secret_basic.
    let http = openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.address.clone()).expect("issuer URL"),
        &http,
    )
    .await
    .expect("discovery and JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(registered.id.clone()),
        Some(ClientSecret::new(registered.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(registered.redirect_uri.clone()).expect("redirect URL"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".to_owned()))
        .add_auth_context_value(AuthenticationContextClass::new(LOW.to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    // The browser: authorize, the login page, the password, back to the client.
    let before_login = now();
    let response = app
        .client
        .get(authorize_url.as_str())
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 303);
    let login = location(&response).expect("login location");
    assert!(login.starts_with("/login?request="), "{login}");
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    let back = location(&response).expect("redirect to the client");
    let parameters = redirect_parameters(&back, &registered.redirect_uri);
    assert_eq!(names(&parameters), ["code", "iss", "state"]);
    assert_eq!(single(&parameters, "state"), state.secret());
    // RFC 9207: iss is the issuer the relying party discovered.
    assert_eq!(single(&parameters, "iss"), app.address);
    let code = single(&parameters, "code").to_owned();

    // The token request, with the PKCE verifier, then the ID token checked against the JWKS.
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint discovered")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token response");
    let id_token = tokens.id_token().expect("an ID token");
    let id_token_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_token_verifier, &nonce)
        .expect("ID token verifies (signature, issuer, audience, expiry, nonce)");
    assert!(!claims.subject().is_empty());
    assert_eq!(
        claims.audiences(),
        &vec![Audience::new(registered.id.clone())]
    );
    assert_eq!(claims.auth_context_ref().map(|acr| acr.as_str()), Some(LOW));
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .expect("amr")
        .iter()
        .map(|amr| amr.as_str())
        .collect();
    assert_eq!(amr, ["pwd"]);
    let auth_time = claims.auth_time().expect("auth_time").timestamp();
    assert!(
        (before_login..=now()).contains(&auth_time),
        "auth_time {auth_time} is during the login"
    );
    let expected_at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("signed"),
        id_token
            .signing_key(&id_token_verifier)
            .expect("key in the JWKS"),
    )
    .expect("hashable");
    assert_eq!(claims.access_token_hash(), Some(&expected_at_hash));
    let raw = jwt_claims(&id_token.to_string());
    assert!(
        raw["sid"].as_str().is_some_and(|sid| !sid.is_empty()),
        "sid in {raw}"
    );
    assert_eq!(localized(claims.name()), Some("Anna Jensen"));
    assert_eq!(localized(claims.given_name()), Some("Anna"));
    assert_eq!(localized(claims.family_name()), Some("Jensen"));
    assert_eq!(
        claims.birthdate().map(|date| date.as_str()),
        Some(BIRTHDATE)
    );

    // Userinfo with the access token: the same subject and profile claims.
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint discovered")
        .request_async(&http)
        .await
        .expect("userinfo response");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(localized(userinfo.name()), Some("Anna Jensen"));
    assert_eq!(localized(userinfo.given_name()), Some("Anna"));
    assert_eq!(localized(userinfo.family_name()), Some("Jensen"));
    assert_eq!(
        userinfo.birthdate().map(|date| date.as_str()),
        Some(BIRTHDATE)
    );
}

#[tokio::test]
async fn second_client_gets_a_code_with_prompt_none_after_login_at_the_first() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client_a = app.add_basic_client("portal-a", REDIRECT_A).await;
    let client_b = app.add_basic_client("portal-b", REDIRECT_B).await;
    let (code_a, started_a) = app
        .login_for_code(&client_a, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;
    let claims_a = id_token_claims(&app, &client_a, &code_a, &started_a).await;

    let started_b = app
        .authorize(&client_b, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    assert_eq!(started_b.status, 303, "no login page");
    let back = started_b.location.clone().expect("redirect to client B");
    let parameters = redirect_parameters(&back, REDIRECT_B);
    assert_eq!(names(&parameters), ["code", "iss", "state"]);
    assert_eq!(single(&parameters, "state"), started_b.state);
    assert_eq!(single(&parameters, "iss"), issuer(&app));
    let claims_b = id_token_claims(&app, &client_b, single(&parameters, "code"), &started_b).await;

    // Pairwise subjects (OIDC Core 8.1): localhost and 127.0.0.1 are different sectors.
    assert_ne!(claims_a["sub"], claims_b["sub"]);
    assert!(claims_b["sub"].as_str().is_some_and(|sub| !sub.is_empty()));
    // One SSO session, but a sid per client: sectors cannot join their subjects on it.
    assert_ne!(claims_a["sid"], claims_b["sid"], "a sid per client");
    assert_eq!(claims_a["auth_time"], claims_b["auth_time"]);
    assert_eq!(claims_b["acr"], LOW);
    assert_eq!(sorted_amr(&claims_b), ["pwd"]);
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required() {
    let app = spawn_app().await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let started = app
        .authorize(&client, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    assert_eq!(started.status, 303);
    let back = started.location.clone().expect("redirect to the client");
    let parameters = redirect_parameters(&back, REDIRECT_A);
    assert_eq!(
        names(&parameters),
        ["error", "error_description", "iss", "state"]
    );
    assert_eq!(single(&parameters, "error"), "login_required");
    assert_eq!(single(&parameters, "state"), started.state);
    assert_eq!(single(&parameters, "iss"), issuer(&app));
}

#[tokio::test]
async fn substantial_needs_the_totp_code() {
    let app = spawn_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(&app, &client, &[]).await;

    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    assert!(
        !header_values(&response, "set-cookie")
            .iter()
            .any(|cookie| cookie.starts_with("segl_session=")),
        "no session before the second factor"
    );
    let code_page = location(&response).expect("to the code page");
    assert_eq!(
        code_page, login,
        "the same pending request, now at the code stage"
    );

    let totp = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("TOTP code");
    let response = app.submit_code(&code_page, &totp).await;
    assert_eq!(response.status(), 303, "code accepted");
    let parameters = redirect_parameters(&location(&response).expect("back"), REDIRECT_A);
    assert_eq!(names(&parameters), ["code", "iss", "state"]);
    assert_eq!(single(&parameters, "state"), started.state);
    let claims = id_token_claims(&app, &client, single(&parameters, "code"), &started).await;
    assert_eq!(claims["acr"], SUBSTANTIAL);
    assert_eq!(sorted_amr(&claims), ["mfa", "otp", "pwd"]);
}

#[tokio::test]
async fn a_low_session_steps_up_with_only_the_code() {
    let app = spawn_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (code, started) = app
        .login_for_code(&client, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;
    let low = id_token_claims(&app, &client, &code, &started).await;
    assert_eq!(low["acr"], LOW);

    // No acr_values: Substantial. The session is Low, so only the missing factor is asked for.
    let (started, login) = start_login(&app, &client, &[]).await;
    let page = app.get_page(&login).await;
    assert!(page.contains("name=\"code\""), "a code input:\n{page}");
    assert!(
        !page.contains("name=\"password\"") && !page.contains("type=\"password\""),
        "no password input:\n{page}"
    );
    assert!(!page.contains("name=\"user_id\""), "no user ID input");

    let totp = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("TOTP code");
    let before_code = now();
    let response = app.submit_code(&login, &totp).await;
    assert_eq!(response.status(), 303, "code accepted");
    let parameters = redirect_parameters(&location(&response).expect("back"), REDIRECT_A);
    assert_eq!(single(&parameters, "state"), started.state);
    let substantial = id_token_claims(&app, &client, single(&parameters, "code"), &started).await;
    assert_eq!(substantial["acr"], SUBSTANTIAL);
    assert_eq!(sorted_amr(&substantial), ["mfa", "otp", "pwd"]);
    // auth_time is when the level was reached: the step-up moves it.
    let auth_time = substantial["auth_time"].as_i64().expect("auth_time");
    assert!(
        auth_time >= before_code && auth_time >= low["auth_time"].as_i64().expect("auth_time"),
        "a step-up moves auth_time to the code's time {before_code}: {auth_time}"
    );
    assert_eq!(substantial["sid"], low["sid"], "the same session, raised");
    assert_eq!(substantial["sub"], low["sub"]);
}

#[tokio::test]
async fn auth_time_is_when_the_second_factor_completed_the_login() {
    let app = spawn_app().await;
    let citizen = app.add_citizen(CPR, USER_ID, PASSWORD, true).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(&app, &client, &[]).await;
    let before_password = now();
    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    let after_password = now();
    // A slow second factor (the provider's clock is the system clock).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let totp = app
        .services
        .registry
        .current_totp_code(citizen.id)
        .await
        .expect("TOTP code");
    let before_code = now();
    let response = app.submit_code(&login, &totp).await;
    assert_eq!(response.status(), 303, "code accepted");
    let after_code = now();
    let parameters = redirect_parameters(&location(&response).expect("back"), REDIRECT_A);
    let claims = id_token_claims(&app, &client, single(&parameters, "code"), &started).await;
    assert_eq!(claims["acr"], SUBSTANTIAL);
    let auth_time = claims["auth_time"].as_i64().expect("auth_time");
    assert!(
        before_code <= auth_time && auth_time <= after_code,
        "auth_time {auth_time} is the code step [{before_code}, {after_code}], \
         not the password step [{before_password}, {after_password}]"
    );
    assert!(auth_time > after_password, "after the password step");
}

/// Redeems `code` at `client`: the raw ID token and access token.
async fn id_and_access_token(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    started: &Started,
) -> (String, String) {
    let response = app
        .exchange_code(client, code, &started.pkce.verifier)
        .await;
    assert_eq!(response.status(), 200, "token response");
    let body: serde_json::Value = response.json().await.expect("JSON token response");
    (
        body["id_token"].as_str().expect("an ID token").to_owned(),
        body["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned(),
    )
}

#[tokio::test]
async fn id_token_hint_for_another_citizen_never_gets_a_code_for_the_session_citizen() {
    // ID tokens live 1 s: every hint below is expired when used, which OIDC Core allows.
    let app = spawn_app_with(|settings| settings.provider.id_token_lifetime_seconds = 1).await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    app.add_citizen("010165-4000", "bo.hansen", PASSWORD, false)
        .await;
    let client_a = app.add_basic_client("portal-a", REDIRECT_A).await;
    let client_b = app.add_basic_client("portal-b", REDIRECT_B).await;
    let low = [("acr_values", LOW)];
    let (code, started) = app
        .login_for_code(&client_a, "bo.hansen", PASSWORD, &low)
        .await;
    let (bo_hint, _) = id_and_access_token(&app, &client_a, &code, &started).await;
    // The browser's session becomes Anna's.
    let (code, started) = app
        .login_for_code(
            &client_a,
            USER_ID,
            PASSWORD,
            &[("acr_values", LOW), ("prompt", "login")],
        )
        .await;
    let (anna_hint, anna_access) = id_and_access_token(&app, &client_a, &code, &started).await;
    let started = app
        .authorize(&client_b, &[("prompt", "none"), ("acr_values", LOW)])
        .await;
    let code = query_value(&started.location.clone().expect("to B"), "code").expect("SSO code");
    let (anna_hint_for_b, _) = id_and_access_token(&app, &client_b, &code, &started).await;
    let anna_sub = jwt_claims(&anna_hint)["sub"].clone();
    let bo_sub = jwt_claims(&bo_hint)["sub"].clone();
    assert_ne!(anna_sub, bo_sub);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let prompt_none = |hint: String| {
        let app = &app;
        let client = &client_a;
        async move {
            let started = app
                .authorize(
                    client,
                    &[
                        ("prompt", "none"),
                        ("acr_values", LOW),
                        ("id_token_hint", &hint),
                    ],
                )
                .await;
            assert_eq!(started.status, 303, "prompt=none redirects");
            let back = started.location.clone().expect("redirect to the client");
            (redirect_parameters(&back, REDIRECT_A), started)
        }
    };
    // OIDC Core 3.1.2.1: the hint names the logged-in citizen (expired, still a hint): a code.
    let (parameters, started) = prompt_none(anna_hint.clone()).await;
    assert_eq!(names(&parameters), ["code", "iss", "state"]);
    let claims = id_token_claims(&app, &client_a, single(&parameters, "code"), &started).await;
    assert_eq!(claims["sub"], anna_sub);
    // Someone else: login_required, never a code for Anna.
    let (parameters, _) = prompt_none(bo_hint.clone()).await;
    assert_eq!(
        names(&parameters),
        ["error", "error_description", "iss", "state"]
    );
    assert_eq!(single(&parameters, "error"), "login_required");
    // A hint that does not verify as our ID token for this client: invalid_request.
    for (hint, case) in [
        (anna_hint_for_b, "an ID token for another client"),
        (anna_access, "an access token"),
        ("not.a.jwt".to_owned(), "garbage"),
        (format!("{anna_hint}x"), "a broken signature"),
    ] {
        let (parameters, _) = prompt_none(hint).await;
        assert_eq!(single(&parameters, "error"), "invalid_request", "{case}");
        assert_eq!(
            single(&parameters, "error_description"),
            "could not validate id_token_hint",
            "{case}"
        );
    }

    // Without prompt=none, a hint for someone else means a new login, not Anna's session.
    let started = app
        .authorize(
            &client_a,
            &[("acr_values", LOW), ("id_token_hint", &bo_hint)],
        )
        .await;
    assert_eq!(started.status, 303);
    let login = started.location.clone().expect("to the login page");
    assert!(
        login.starts_with("/login?request="),
        "a login, not a code: {login}"
    );
    let response = app.submit_password(&login, "bo.hansen", PASSWORD).await;
    assert_eq!(response.status(), 303, "password accepted");
    let parameters = redirect_parameters(&location(&response).expect("back"), REDIRECT_A);
    let claims = id_token_claims(&app, &client_a, single(&parameters, "code"), &started).await;
    assert_eq!(claims["sub"], bo_sub, "the citizen who logged in");
}

/// Asserts the 403 page that ends a login the citizen cannot complete: a "back to the service"
/// form that carries `access_denied` to the client. Returns the page.
async fn assert_denied_page(
    app: &TestApp,
    response: reqwest::Response,
    started: &Started,
) -> String {
    assert_eq!(
        response.status(),
        403,
        "the access-denied page, not a redirect to {:?}",
        location(&response)
    );
    let page = response.text().await.expect("page");
    assert_eq!(attribute(&page, "<form ", "method"), "get");
    assert_eq!(attribute(&page, "<form ", "action"), REDIRECT_A);
    let fields = hidden_fields(&page);
    assert_eq!(
        names(&fields),
        ["error", "error_description", "iss", "state"]
    );
    assert_eq!(single(&fields, "error"), "access_denied");
    assert_eq!(single(&fields, "state"), started.state);
    assert_eq!(single(&fields, "iss"), issuer(app));
    page
}

#[tokio::test]
async fn a_citizen_without_a_second_factor_gets_access_denied() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(&app, &client, &[]).await;

    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    let page = assert_denied_page(&app, response, &started).await;
    assert_eq!(attribute(&page, "<html ", "lang"), "da");
    assert_eq!(
        alert_text(&page),
        "Tjenesten kræver en ekstra faktor, som du ikke har tilknyttet."
    );
    assert!(page.contains(">Tilbage til tjenesten</button>"), "{page}");
}

#[tokio::test]
async fn the_access_denied_page_speaks_the_language_of_ui_locales() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(&app, &client, &[("ui_locales", "en")]).await;
    assert_eq!(
        attribute(&app.get_page(&login).await, "<html ", "lang"),
        "en"
    );

    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    let page = assert_denied_page(&app, response, &started).await;
    // OIDC Core 3.1.2.1: ui_locales is the citizen's language for the whole login, not only
    // for its first page.
    assert_eq!(attribute(&page, "<html ", "lang"), "en");
    assert_eq!(
        alert_text(&page),
        "The service requires an extra factor that you have not enrolled."
    );
}

#[tokio::test]
async fn a_low_session_without_a_second_factor_is_denied_rather_than_asked_for_a_code() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    app.login_for_code(&client, USER_ID, PASSWORD, &[("acr_values", LOW)])
        .await;

    // Substantial on top of a Low session, for a citizen with no TOTP: no code can ever be
    // right, so the answer is the same refusal as after the password (docs/NEMLOGIN.md section 2).
    let (started, response) = authorize_response(&app, &client, &[]).await;
    let page = assert_denied_page(&app, response, &started).await;
    assert_eq!(
        alert_text(&page),
        "Tjenesten kræver en ekstra faktor, som du ikke har tilknyttet."
    );
}

#[tokio::test]
async fn form_post_delivers_the_code_in_an_auto_posting_form() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(
        &app,
        &client,
        &[("response_mode", "form_post"), ("acr_values", LOW)],
    )
    .await;

    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    let policy = header(&response, "content-security-policy").to_owned();
    let page = response.text().await.expect("page");

    assert_eq!(attribute(&page, "<form ", "method"), "post");
    assert_eq!(attribute(&page, "<form ", "action"), REDIRECT_A);
    let fields = hidden_fields(&page);
    assert_eq!(names(&fields), ["code", "iss", "state"]);
    assert_eq!(single(&fields, "state"), started.state);
    assert_eq!(single(&fields, "iss"), issuer(&app));

    // The one inline script runs only by its nonce.
    let script_nonce = attribute(&page, "<script ", "nonce");
    assert!(script_nonce.len() >= 22, "a random nonce: {script_nonce}");
    assert!(
        policy
            .split(';')
            .map(str::trim)
            .any(|directive| directive == format!("script-src 'nonce-{script_nonce}'")),
        "CSP {policy} allows the script by its nonce"
    );
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");

    let claims = id_token_claims(&app, &client, single(&fields, "code"), &started).await;
    assert_eq!(claims["acr"], LOW);
}

#[tokio::test]
async fn cancel_gives_access_denied() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (started, login) = start_login(&app, &client, &[("acr_values", LOW)]).await;
    let page = app.get_page(&login).await;
    assert_eq!(
        attribute(
            &page,
            "<form method=\"post\" action=\"/login/cancel\"",
            "class"
        ),
        "cancel"
    );
    let form = [
        ("request", hidden_field(&page, "request")),
        ("csrf", hidden_field(&page, "csrf")),
    ];

    let response = app
        .client
        .post(format!("{}/login/cancel", app.address))
        .form(&form)
        .send()
        .await
        .expect("cancel");
    assert_eq!(response.status(), 303);
    let parameters = redirect_parameters(&location(&response).expect("back"), REDIRECT_A);
    assert_eq!(
        names(&parameters),
        ["error", "error_description", "iss", "state"]
    );
    assert_eq!(single(&parameters, "error"), "access_denied");
    assert_eq!(single(&parameters, "state"), started.state);
    assert_eq!(single(&parameters, "iss"), issuer(&app));

    // The cancelled request is gone: its password form no longer logs anyone in.
    let response = app
        .client
        .post(format!("{}/login", app.address))
        .form(&[
            ("request", form[0].1.as_str()),
            ("csrf", form[1].1.as_str()),
            ("user_id", USER_ID),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("late password");
    assert_eq!(response.status(), 400, "expired page");
}

#[tokio::test]
async fn the_login_page_is_accessible_and_bilingual() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;

    // English by ui_locales.
    let (_, login) = start_login(&app, &client, &[("acr_values", LOW), ("ui_locales", "en")]).await;
    let page = app.get_page(&login).await;
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(
        page.contains("<label for=\"user_id\">User ID</label>"),
        "{page}"
    );
    assert!(
        page.contains("<label for=\"password\">Password</label>"),
        "{page}"
    );
    assert_eq!(
        attribute(&page, "<input id=\"user_id\"", "autocomplete"),
        "username"
    );
    assert_eq!(
        attribute(&page, "<input id=\"password\"", "autocomplete"),
        "current-password"
    );
    assert_eq!(
        attribute(&page, "<input id=\"password\"", "type"),
        "password"
    );

    // A failed login: one alert, the same for an unknown user ID and a wrong password.
    let unknown = app.submit_password(&login, "nobody.here", PASSWORD).await;
    assert_eq!(unknown.status(), 200);
    let unknown = unknown.text().await.expect("page");
    let wrong = app
        .submit_password(&login, USER_ID, "not the password")
        .await;
    assert_eq!(wrong.status(), 200);
    let wrong = wrong.text().await.expect("page");
    assert_eq!(
        alert_text(&unknown),
        "Wrong user ID or password, or too many attempts. Try again later."
    );
    assert_eq!(alert_text(&unknown), alert_text(&wrong));
    assert_eq!(
        attribute(&wrong, "<input id=\"password\"", "aria-describedby"),
        "form-error"
    );
    assert_eq!(
        attribute(&wrong, "<input id=\"password\"", "aria-invalid"),
        "true"
    );

    // Danish by Accept-Language, without ui_locales.
    let (_, login) = start_login(&app, &client, &[("acr_values", LOW)]).await;
    let response = app
        .client
        .get(format!("{}{login}", app.address))
        .header(reqwest::header::ACCEPT_LANGUAGE, "da")
        .send()
        .await
        .expect("login page");
    assert_eq!(response.status(), 200);
    let page = response.text().await.expect("page");
    assert!(page.contains("<html lang=\"da\">"), "{page}");
    assert!(
        page.contains("<label for=\"password\">Adgangskode</label>"),
        "{page}"
    );
    assert!(
        page.contains("<label for=\"user_id\">Bruger-id</label>"),
        "{page}"
    );
}

#[tokio::test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    app.add_citizen(CPR, USER_ID, PASSWORD, false).await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;
    let (_, login) = start_login(&app, &client, &[("acr_values", LOW)]).await;

    let response = app.submit_password(&login, USER_ID, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let cookies: Vec<String> = header_values(&response, "set-cookie")
        .into_iter()
        .filter(|cookie| cookie.starts_with("segl_session="))
        .collect();
    assert_eq!(cookies.len(), 1, "one session cookie: {cookies:?}");
    let mut parts = cookies[0].split(';').map(str::trim);
    let value = parts.next().expect("name=value");
    assert!(
        value.len() > "segl_session=".len() + 40,
        "a long random value"
    );
    let mut attributes: Vec<&str> = parts.collect();
    attributes.sort_unstable();
    let max_age = format!("Max-Age={}", app.settings.session.absolute_seconds);
    // No Secure: the issuer is plain-http loopback, where a browser would drop a Secure cookie.
    assert_eq!(
        attributes,
        ["HttpOnly", max_age.as_str(), "Path=/", "SameSite=Lax"]
    );
}

#[tokio::test]
async fn every_response_carries_security_headers() {
    let app = spawn_app().await;
    let client = app.add_basic_client("portal", REDIRECT_A).await;

    let discovery = app
        .client
        .get(format!("{}/.well-known/openid-configuration", app.address))
        .send()
        .await
        .expect("discovery");
    assert_eq!(discovery.status(), 200);

    let (_, login) = start_login(&app, &client, &[("acr_values", LOW)]).await;
    let login_page = app
        .client
        .get(format!("{}{login}", app.address))
        .send()
        .await
        .expect("login page");
    assert_eq!(login_page.status(), 200);

    let token_error = app
        .client
        .post(format!("{}/token", app.address))
        .form(&[("code", "nothing")])
        .send()
        .await
        .expect("token request");
    assert_eq!(token_error.status(), 400);

    for (what, response) in [
        ("discovery", &discovery),
        ("login page", &login_page),
        ("token error", &token_error),
    ] {
        let policy = header(response, "content-security-policy");
        assert!(
            policy
                .split(';')
                .map(str::trim)
                .any(|directive| directive == "frame-ancestors 'none'"),
            "{what}: CSP {policy}"
        );
        assert_eq!(
            header(response, "x-content-type-options"),
            "nosniff",
            "{what}"
        );
        assert_eq!(header(response, "referrer-policy"), "no-referrer", "{what}");
    }
    let body: serde_json::Value = token_error.json().await.expect("JSON error");
    assert_eq!(body["error"], "invalid_request");
}
