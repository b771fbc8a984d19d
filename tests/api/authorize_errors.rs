//! Negative tests for /authorize (GET and POST): which failures show a page and never redirect,
//! and which go back to the client as a redirect with `error`, `state` and `iss` (RFC 9207).

use crate::helpers::{query_value, spawn_app, Pkce, TestApp, TestClient, LOW};

const CALLBACK: &str = "https://rp.example/callback";

/// The issuer as the provider announces it: the configured value without a trailing slash.
fn issuer(app: &TestApp) -> String {
    app.settings.server.issuer.trim_end_matches('/').to_owned()
}

/// A valid request for `client` (code, S256, state, nonce, openid profile) and its state.
fn valid_params(client: &TestClient) -> (Vec<(String, String)>, String) {
    let state = uuid::Uuid::new_v4().to_string();
    let params = [
        ("response_type", "code".to_owned()),
        ("client_id", client.id.clone()),
        ("redirect_uri", client.redirect_uri.clone()),
        ("scope", "openid profile".to_owned()),
        ("state", state.clone()),
        ("nonce", uuid::Uuid::new_v4().to_string()),
        ("code_challenge", Pkce::new().challenge),
        ("code_challenge_method", "S256".to_owned()),
        ("acr_values", LOW.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    (params, state)
}

/// Replaces parameter `name` with `value` ("" drops it).
fn with(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    params.retain(|(existing, _)| existing != name);
    if !value.is_empty() {
        params.push((name.to_owned(), value.to_owned()));
    }
    params
}

/// Adds a second occurrence of `name`.
fn also(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    params.push((name.to_owned(), value.to_owned()));
    params
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
}

const BOTH: [Method; 2] = [Method::Get, Method::Post];

/// What /authorize answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

fn encode(params: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

async fn send(app: &TestApp, method: Method, params: &[(String, String)]) -> Answer {
    send_raw(app, method, &encode(params)).await
}

/// Sends an already encoded query string (GET) or form body (POST).
async fn send_raw(app: &TestApp, method: Method, encoded: &str) -> Answer {
    let request = match method {
        Method::Get => app
            .client
            .get(format!("{}/authorize?{encoded}", app.address)),
        Method::Post => app
            .client
            .post(format!("{}/authorize", app.address))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(encoded.to_owned()),
    };
    into_answer(request.send().await.expect("authorize request")).await
}

async fn into_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let location = crate::helpers::location(&response);
    let body = response.text().await.expect("body");
    Answer {
        status,
        location,
        body,
    }
}

/// Asserts an error redirect to the client's redirect URI with `error`, a description, the
/// expected `state` (None: no state parameter at all) and `iss`; returns the description.
fn assert_redirect_error(
    app: &TestApp,
    client: &TestClient,
    answer: &Answer,
    error: &str,
    state: Option<&str>,
    case: &str,
) -> String {
    assert_eq!(answer.status, 303, "{case}: a redirect, got {answer:?}");
    let location = answer
        .location
        .as_deref()
        .unwrap_or_else(|| panic!("{case}: a Location header"));
    assert!(
        location.starts_with(&format!("{}?", client.redirect_uri)),
        "{case}: redirects to the registered URI, got {location}"
    );
    assert_eq!(
        query_value(location, "error").as_deref(),
        Some(error),
        "{case}: error in {location}"
    );
    assert_eq!(
        query_value(location, "state").as_deref(),
        state,
        "{case}: state in {location}"
    );
    assert_eq!(
        query_value(location, "iss"),
        Some(issuer(app)),
        "{case}: iss in {location}"
    );
    assert_eq!(
        query_value(location, "code"),
        None,
        "{case}: no code in {location}"
    );
    let description = query_value(location, "error_description")
        .unwrap_or_else(|| panic!("{case}: error_description in {location}"));
    assert!(!description.is_empty(), "{case}: a description");
    description
}

/// Asserts the error page: 400, HTML, and no Location header (never a redirect).
fn assert_error_page(answer: &Answer, message: &str, case: &str) {
    assert_eq!(answer.status, 400, "{case}: status, got {answer:?}");
    assert_eq!(answer.location, None, "{case}: must not redirect");
    assert!(
        answer.body.contains(&html_escaped(message)),
        "{case}: the page says {message:?}; got {}",
        answer.body
    );
}

/// `text` as the page template writes it (minijinja's HTML escaping).
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// The server is still up after a malformed request.
async fn assert_still_healthy(app: &TestApp) {
    let response = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("healthz request");
    assert_eq!(response.status(), 200, "/healthz after malformed requests");
}

async fn app_with_client() -> (TestApp, TestClient) {
    let app = spawn_app().await;
    let client = app.add_basic_client("rp-errors", CALLBACK).await;
    (app, client)
}

#[tokio::test]
async fn valid_request_reaches_the_login_page_by_get_and_post() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &params).await;
        assert_eq!(answer.status, 303, "{method:?}: {answer:?}");
        let location = answer.location.expect("a Location");
        assert!(
            location.starts_with("/login?request="),
            "{method:?}: {location}"
        );
    }
}

// ----- response_type -----

#[tokio::test]
async fn response_types_other_than_code_are_unsupported_response_type() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for response_type in [
            "token",
            "id_token",
            "code id_token",
            "id_token token",
            "none",
        ] {
            let (params, state) = valid_params(&client);
            let params = with(params, "response_type", response_type);
            let answer = send(&app, method, &params).await;
            assert_redirect_error(
                &app,
                &client,
                &answer,
                "unsupported_response_type",
                Some(&state),
                &format!("{method:?} response_type={response_type}"),
            );
        }
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn missing_response_type_is_invalid_request() {
    // RFC 6749 4.1.2.1: a missing required parameter is invalid_request.
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let answer = send(&app, method, &with(params, "response_type", "")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(description.contains("response_type"), "{description}");
    }
}

// ----- PKCE -----

#[tokio::test]
async fn plain_pkce_method_is_refused() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        // RFC 7636 Appendix B's verifier, usable as a plain challenge.
        let params = with(
            params,
            "code_challenge",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        );
        let params = with(params, "code_challenge_method", "plain");
        let answer = send(&app, method, &params).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(description.contains("plain"), "{description}");
    }
}

#[tokio::test]
async fn missing_code_challenge_is_invalid_request() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let answer = send(&app, method, &with(params, "code_challenge", "")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(description.contains("code_challenge"), "{description}");
    }
}

#[tokio::test]
async fn missing_code_challenge_method_is_invalid_request() {
    // RFC 7636 4.3 would default to plain, which Segl refuses: S256 must be named.
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let answer = send(&app, method, &with(params, "code_challenge_method", "")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(
            description.contains("code_challenge_method"),
            "{description}"
        );
    }
}

// ----- client and redirect URI: a page, never a redirect -----

#[tokio::test]
async fn redirect_uri_near_misses_show_a_page_and_never_redirect() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for near_miss in [
            "https://rp.example/callback/",
            "https://RP.example/callback",
            "https://rp.example/Callback",
            "https://rp.example/callback?x=1",
            "https://rp.example:8443/callback",
            "https://rp.example:443/callback",
            "http://rp.example/callback",
            "https://rp.example/callback#frag",
            "https://evil.example/callback",
        ] {
            let (params, _) = valid_params(&client);
            let answer = send(&app, method, &with(params, "redirect_uri", near_miss)).await;
            let message = if near_miss.contains('#') {
                "The redirect_uri parameter is repeated, too long or contains a fragment."
            } else {
                "The redirect_uri is not registered for this client."
            };
            assert_error_page(&answer, message, &format!("{method:?} {near_miss}"));
        }
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn missing_redirect_uri_shows_a_page_even_with_one_registered() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "redirect_uri", "")).await;
        assert_error_page(
            &answer,
            "The request has no redirect_uri.",
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn unknown_client_shows_a_page_and_never_redirects() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "client_id", "rp-unknown")).await;
        assert_error_page(
            &answer,
            "The client is not registered with Segl.",
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn missing_client_id_shows_a_page() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "client_id", "")).await;
        assert_error_page(
            &answer,
            "The request does not name a client (client_id is missing).",
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn repeated_client_id_shows_a_page_even_with_the_same_value() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &also(params, "client_id", &client.id)).await;
        assert_error_page(
            &answer,
            "The client_id parameter is repeated or too long.",
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn repeated_redirect_uri_shows_a_page_even_with_the_same_value() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &also(params, "redirect_uri", CALLBACK)).await;
        assert_error_page(
            &answer,
            "The redirect_uri parameter is repeated, too long or contains a fragment.",
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn oversized_client_id_or_redirect_uri_shows_a_page() {
    let (app, client) = app_with_client().await;
    let long_id = "c".repeat(10 * 1024);
    let long_uri = format!("{CALLBACK}?{}", "a".repeat(10 * 1024));
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "client_id", &long_id)).await;
        assert_error_page(
            &answer,
            "The client_id parameter is repeated or too long.",
            &format!("{method:?} client_id"),
        );
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "redirect_uri", &long_uri)).await;
        assert_error_page(
            &answer,
            "The redirect_uri parameter is repeated, too long or contains a fragment.",
            &format!("{method:?} redirect_uri"),
        );
    }
    assert_still_healthy(&app).await;
}

// ----- state, nonce, scope -----

#[tokio::test]
async fn missing_state_is_invalid_request_without_state() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "state", "")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            None,
            &format!("{method:?}"),
        );
        assert!(description.contains("state"), "{description}");
    }
}

#[tokio::test]
async fn missing_nonce_is_invalid_request() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let answer = send(&app, method, &with(params, "nonce", "")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(description.contains("nonce"), "{description}");
    }
}

#[tokio::test]
async fn scope_without_openid_is_invalid_scope() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for scope in ["profile", "profile email", ""] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "scope", scope)).await;
            assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_scope",
                Some(&state),
                &format!("{method:?} scope={scope:?}"),
            );
        }
    }
}

#[tokio::test]
async fn scope_the_client_is_not_registered_for_is_invalid_scope() {
    let app = spawn_app().await;
    let client = app
        .add_client(oidc_provider::client::ClientRegistration {
            id: "rp-profile-only".to_owned(),
            name: "Profile only".to_owned(),
            redirect_uris: vec![CALLBACK.to_owned()],
            auth_method: "client_secret_basic".to_owned(),
            scopes: vec!["profile".to_owned()],
            ..Default::default()
        })
        .await;
    for method in BOTH {
        for scope in [
            "openid email",
            "openid profile email",
            "openid no-such-scope",
        ] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "scope", scope)).await;
            assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_scope",
                Some(&state),
                &format!("{method:?} scope={scope}"),
            );
        }
    }
}

// ----- repeated and oversized parameters -----

#[tokio::test]
async fn repeated_state_is_invalid_request_and_not_echoed() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &also(params, "state", "second")).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            None,
            &format!("{method:?}"),
        );
        assert!(description.contains("more than once"), "{description}");
    }
}

#[tokio::test]
async fn repeated_parameters_are_invalid_request() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for (name, second) in [
            ("scope", "openid"),
            ("nonce", "other"),
            ("response_type", "code"),
            ("code_challenge_method", "S256"),
            ("prompt", "login"),
        ] {
            let (params, state) = valid_params(&client);
            let params = also(params, name, second);
            // prompt is not in the standard set: send it twice.
            let params = if name == "prompt" {
                also(params, name, second)
            } else {
                params
            };
            let answer = send(&app, method, &params).await;
            let description = assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_request",
                Some(&state),
                &format!("{method:?} two {name}"),
            );
            assert!(description.contains(name), "{description}");
        }
    }
}

#[tokio::test]
async fn oversized_state_is_invalid_request_and_not_echoed() {
    let (app, client) = app_with_client().await;
    let long_state = "s".repeat(10 * 1024);
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "state", &long_state)).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            None,
            &format!("{method:?}"),
        );
        assert!(description.contains("state"), "{description}");
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn oversized_login_hint_is_invalid_request() {
    let (app, client) = app_with_client().await;
    let long_hint = "h".repeat(10 * 1024);
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let answer = send(&app, method, &with(params, "login_hint", &long_hint)).await;
        let description = assert_redirect_error(
            &app,
            &client,
            &answer,
            "invalid_request",
            Some(&state),
            &format!("{method:?}"),
        );
        assert!(description.contains("login_hint"), "{description}");
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn invalid_utf8_in_the_request_is_a_bad_request_page() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for (name, value) in [
            ("state", "%FF"),
            ("client_id", "rp%C3"),
            ("login_hint", "%C3%28"),
        ] {
            let (params, _) = valid_params(&client);
            let encoded = format!("{}&{name}={value}", encode(&with(params, name, "")));
            let answer = send_raw(&app, method, &encoded).await;
            assert_error_page(
                &answer,
                "The request is not valid form-urlencoded UTF-8.",
                &format!("{method:?} {name}={value}"),
            );
        }
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn too_many_parameters_show_a_page() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (mut params, _) = valid_params(&client);
        for index in 0..60 {
            params.push((format!("x{index}"), "1".to_owned()));
        }
        let answer = send(&app, method, &params).await;
        assert_eq!(answer.status, 400, "{method:?}: {answer:?}");
        assert_eq!(answer.location, None, "{method:?}: must not redirect");
    }
    assert_still_healthy(&app).await;
}

// ----- unsupported features -----

#[tokio::test]
async fn request_object_is_request_not_supported() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let params = with(params, "request", "eyJhbGciOiJub25lIn0.e30.");
        let answer = send(&app, method, &params).await;
        assert_redirect_error(
            &app,
            &client,
            &answer,
            "request_not_supported",
            Some(&state),
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn request_uri_is_request_uri_not_supported() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        let (params, state) = valid_params(&client);
        let params = with(
            params,
            "request_uri",
            "urn:ietf:params:oauth:request_uri:abc",
        );
        let answer = send(&app, method, &params).await;
        assert_redirect_error(
            &app,
            &client,
            &answer,
            "request_uri_not_supported",
            Some(&state),
            &format!("{method:?}"),
        );
    }
}

#[tokio::test]
async fn prompt_combinations_give_the_specified_errors() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for (prompt, error) in [
            // OIDC Core 3.1.2.1: none with any other value is an error.
            ("none login", "invalid_request"),
            ("login none", "invalid_request"),
            ("none consent", "invalid_request"),
            ("none select_account", "invalid_request"),
            // No session, no interaction allowed.
            ("none", "login_required"),
            // Segl has no consent screen and one account per citizen.
            ("consent", "consent_required"),
            ("login consent", "consent_required"),
            ("select_account", "account_selection_required"),
            ("create", "invalid_request"),
            ("bogus", "invalid_request"),
        ] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "prompt", prompt)).await;
            assert_redirect_error(
                &app,
                &client,
                &answer,
                error,
                Some(&state),
                &format!("{method:?} prompt={prompt}"),
            );
        }
    }
}

#[tokio::test]
async fn an_id_token_hint_that_does_not_verify_is_invalid_request() {
    let (app, client) = app_with_client().await;
    let unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.";
    for method in BOTH {
        for hint in ["garbage", "eyJ.hint.sig", unsigned] {
            for prompt in ["none", ""] {
                let (params, state) = valid_params(&client);
                let params = with(params, "id_token_hint", hint);
                let params = if prompt.is_empty() {
                    params
                } else {
                    with(params, "prompt", prompt)
                };
                let answer = send(&app, method, &params).await;
                let description = assert_redirect_error(
                    &app,
                    &client,
                    &answer,
                    "invalid_request",
                    Some(&state),
                    &format!("{method:?} id_token_hint={hint} prompt={prompt}"),
                );
                assert_eq!(description, "could not validate id_token_hint");
            }
        }
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn non_numeric_max_age_is_invalid_request() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for max_age in ["abc", "-1", "1.5", "99999999999"] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "max_age", max_age)).await;
            let description = assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_request",
                Some(&state),
                &format!("{method:?} max_age={max_age}"),
            );
            assert!(description.contains("max_age"), "{description}");
        }
    }
}

#[tokio::test]
async fn fragment_response_mode_is_invalid_request_delivered_in_the_query() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for mode in ["fragment", "query.jwt"] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "response_mode", mode)).await;
            let description = assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_request",
                Some(&state),
                &format!("{method:?} response_mode={mode}"),
            );
            assert!(description.contains("response_mode"), "{description}");
            let location = answer.location.expect("a Location");
            assert!(!location.contains('#'), "no fragment: {location}");
        }
    }
}

#[tokio::test]
async fn unknown_acr_values_are_invalid_request() {
    let (app, client) = app_with_client().await;
    for method in BOTH {
        for acr in [
            "urn:example:loa:3",
            "https://data.gov.dk/concept/core/nsis/loa/Extreme",
            "low",
        ] {
            let (params, state) = valid_params(&client);
            let answer = send(&app, method, &with(params, "acr_values", acr)).await;
            let description = assert_redirect_error(
                &app,
                &client,
                &answer,
                "invalid_request",
                Some(&state),
                &format!("{method:?} acr_values={acr}"),
            );
            assert!(description.contains("acr"), "{description}");
        }
    }
}

// ----- the transport -----

#[tokio::test]
async fn post_with_a_non_form_content_type_is_a_bad_request_page() {
    let (app, client) = app_with_client().await;
    let (params, _) = valid_params(&client);
    let form = encode(&params);
    let json = serde_json::to_string(
        &params
            .iter()
            .cloned()
            .collect::<std::collections::BTreeMap<String, String>>(),
    )
    .expect("json");
    for (content_type, body) in [
        (Some("application/json"), json.clone()),
        (Some("text/plain"), form.clone()),
        (Some("multipart/form-data; boundary=x"), form.clone()),
        (None, form.clone()),
    ] {
        let mut request = app
            .client
            .post(format!("{}/authorize", app.address))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let answer = into_answer(request.send().await.expect("post")).await;
        assert_error_page(
            &answer,
            "The request must be sent as application/x-www-form-urlencoded.",
            &format!("{content_type:?}"),
        );
    }
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn post_body_over_64_kib_is_payload_too_large() {
    let (app, client) = app_with_client().await;
    let (params, _) = valid_params(&client);
    let body = format!("{}&padding={}", encode(&params), "p".repeat(65 * 1024));
    let response = app
        .client
        .post(format!("{}/authorize", app.address))
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 413);
    assert_eq!(crate::helpers::location(&response), None);
    assert_still_healthy(&app).await;
}

#[tokio::test]
async fn a_redirect_uri_registered_with_a_control_character_never_causes_a_5xx() {
    // url::Url::parse drops newlines and tabs, so such a URI passes registration, is stored as
    // written, and matches a request that sends %0A; it cannot become a Location header.
    let app = spawn_app().await;
    let registration = oidc_provider::client::ClientRegistration {
        id: "rp-newline".to_owned(),
        name: "Newline".to_owned(),
        redirect_uris: vec!["https://rp.example/call\nback".to_owned()],
        auth_method: "client_secret_basic".to_owned(),
        scopes: vec!["profile".to_owned()],
        ..Default::default()
    };
    if registration
        .clone()
        .validate(&segl::clients::supported_scopes())
        .is_err()
    {
        // Refused at registration: nothing can reach /authorize.
        return;
    }
    let client = app.add_client(registration).await;
    for method in BOTH {
        let (params, _) = valid_params(&client);
        let answer = send(&app, method, &with(params, "response_type", "token")).await;
        assert!(
            answer.status < 500,
            "{method:?}: an error redirect or page, never a 5xx; got {answer:?}"
        );
    }
    assert_still_healthy(&app).await;
}
