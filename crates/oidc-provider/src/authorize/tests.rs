//! Unit tests of `authorize.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::client::ClientAuthMethod;

const ISSUER: &str = "https://segl.example";
const CALLBACK: &str = "https://rp.example/callback";
const CALLBACK_WITH_QUERY: &str = "https://rp.example/cb?tenant=1";
// RFC 7636 Appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client() -> Client {
    Client::builder("rp-1", CALLBACK)
        .name("Relying party")
        .redirect_uri(CALLBACK_WITH_QUERY)
        .auth_method(ClientAuthMethod::PrivateKeyJwt)
        .scopes(["profile", "email"])
        .build()
}

fn valid_params() -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", "rp-1"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid profile"),
        ("state", "af0ifjsldkj"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

fn with(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    params.retain(|(existing, _)| existing != name);
    params.push((name.to_owned(), value.to_owned()));
    params
}

fn without(mut params: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    params.retain(|(existing, _)| existing != name);
    params
}

fn also(mut params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    params.push((name.to_owned(), value.to_owned()));
    params
}

fn run(params: &[(String, String)]) -> Result<AuthorizationRequest, AuthorizeError> {
    let raw = parse(params)?;
    let client = client();
    let found = (raw.client_id() == client.id).then_some(&client);
    validate(&raw, found)
}

fn page_error(params: &[(String, String)]) -> PageError {
    match run(params) {
        Err(AuthorizeError::ShowPage(error)) => error,
        other => panic!("expected a page error, got {other:?}"),
    }
}

fn redirect_error(params: &[(String, String)]) -> RedirectError {
    match run(params) {
        Err(AuthorizeError::Redirect(error)) => error,
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

fn error_code(params: &[(String, String)]) -> ErrorCode {
    redirect_error(params).error
}

// Success.

#[test]
fn valid_request_is_accepted() {
    let request = run(&valid_params()).unwrap();
    assert_eq!(request.client_id, "rp-1");
    assert_eq!(request.redirect_uri, CALLBACK);
    assert_eq!(request.scopes, vec!["openid", "profile"]);
    assert_eq!(request.state, "af0ifjsldkj");
    assert_eq!(request.nonce, "n-0S6_WzA2Mj");
    assert_eq!(request.code_challenge.as_str(), CHALLENGE);
    assert_eq!(request.response_mode, ResponseMode::Query);
    assert_eq!(request.prompt, Prompt::Default);
    assert_eq!(request.max_age, None);
    assert_eq!(request.login_hint, None);
    assert!(request.ui_locales.is_empty());
    assert!(request.acr_values.is_empty());
    assert_eq!(request.claims, None);
}

#[test]
fn optional_parameters_are_kept() {
    let params = with(valid_params(), "login_hint", "citizen@example.dk");
    let params = with(params, "ui_locales", "da  en-GB");
    let params = with(
        params,
        "acr_values",
        "https://data.gov.dk/concept/core/nsis/loa/High http://eidas.europa.eu/LoA/high",
    );
    let params = with(params, "max_age", "600");
    let params = with(params, "id_token_hint", "eyJ.hint.sig");
    let params = with(params, "claims", r#"{"id_token":{"dk_cpr":null}}"#);
    let request = run(&params).unwrap();
    assert_eq!(request.login_hint.as_deref(), Some("citizen@example.dk"));
    assert_eq!(request.ui_locales, vec!["da", "en-GB"]);
    assert_eq!(
        request.acr_values,
        vec![
            "https://data.gov.dk/concept/core/nsis/loa/High",
            "http://eidas.europa.eu/LoA/high"
        ]
    );
    assert_eq!(request.max_age, Some(600));
    assert_eq!(request.id_token_hint.as_deref(), Some("eyJ.hint.sig"));
    assert_eq!(
        request.claims.as_deref(),
        Some(r#"{"id_token":{"dk_cpr":null}}"#)
    );
}

#[test]
fn unknown_parameters_are_ignored() {
    let params = with(valid_params(), "display", "popup");
    let params = with(params, "x-vendor-thing", "1");
    assert!(run(&params).is_ok());
}

#[test]
fn redirect_uri_with_a_registered_query_is_accepted() {
    let params = with(valid_params(), "redirect_uri", CALLBACK_WITH_QUERY);
    assert_eq!(run(&params).unwrap().redirect_uri, CALLBACK_WITH_QUERY);
}

// Errors that never redirect.

#[test]
fn missing_client_id_never_redirects() {
    assert_eq!(
        page_error(&without(valid_params(), "client_id")),
        PageError::MissingClientId
    );
}

#[test]
fn unknown_client_never_redirects() {
    assert_eq!(
        page_error(&with(valid_params(), "client_id", "rp-unknown")),
        PageError::UnknownClient
    );
}

#[test]
fn lookup_for_another_client_id_never_redirects() {
    let raw = parse(&valid_params()).unwrap();
    let mut other = client();
    other.id = "rp-2".to_owned();
    assert_eq!(
        validate(&raw, Some(&other)),
        Err(AuthorizeError::ShowPage(PageError::UnknownClient))
    );
}

#[test]
fn duplicate_client_id_never_redirects() {
    assert_eq!(
        page_error(&also(valid_params(), "client_id", "rp-1")),
        PageError::MalformedClientId
    );
}

#[test]
fn missing_redirect_uri_never_redirects_even_with_one_registered() {
    let raw = parse(&without(valid_params(), "redirect_uri")).unwrap();
    let mut single = client();
    single.redirect_uris = vec![CALLBACK.to_owned()];
    assert_eq!(
        validate(&raw, Some(&single)),
        Err(AuthorizeError::ShowPage(PageError::MissingRedirectUri))
    );
}

#[test]
fn unregistered_redirect_uri_never_redirects() {
    assert_eq!(
        page_error(&with(
            valid_params(),
            "redirect_uri",
            "https://evil.example/cb"
        )),
        PageError::UnregisteredRedirectUri
    );
}

#[test]
fn redirect_uri_must_match_character_for_character() {
    for near_miss in [
        "https://rp.example/callback/",
        "https://RP.example/callback",
        "https://rp.example/callback?x=1",
        "https://rp.example:443/callback",
        "http://rp.example/callback",
        "https://rp.example/cb?tenant=2",
    ] {
        assert_eq!(
            page_error(&with(valid_params(), "redirect_uri", near_miss)),
            PageError::UnregisteredRedirectUri,
            "{near_miss}"
        );
    }
}

#[test]
fn redirect_uri_with_a_fragment_never_redirects() {
    let params = with(
        valid_params(),
        "redirect_uri",
        "https://rp.example/callback#x",
    );
    assert_eq!(page_error(&params), PageError::MalformedRedirectUri);
}

#[test]
fn duplicate_redirect_uri_never_redirects() {
    assert_eq!(
        page_error(&also(valid_params(), "redirect_uri", CALLBACK)),
        PageError::MalformedRedirectUri
    );
}

#[test]
fn too_many_parameters_never_redirect() {
    let mut params = valid_params();
    for index in 0..MAX_PARAMETERS {
        params.push((format!("extra{index}"), "1".to_owned()));
    }
    assert_eq!(page_error(&params), PageError::RequestTooLarge);
}

#[test]
fn overlong_parameter_name_never_redirects() {
    let params = also(valid_params(), &"n".repeat(MAX_NAME_BYTES + 1), "1");
    assert_eq!(page_error(&params), PageError::RequestTooLarge);
}

#[test]
fn oversized_client_id_never_redirects() {
    let long = "c".repeat(MAX_VALUE_BYTES + 1);
    assert_eq!(
        page_error(&with(valid_params(), "client_id", &long)),
        PageError::MalformedClientId
    );
}

#[test]
fn oversized_redirect_uri_never_redirects() {
    let long = format!("{CALLBACK}?{}", "a".repeat(MAX_VALUE_BYTES));
    assert_eq!(
        page_error(&with(valid_params(), "redirect_uri", &long)),
        PageError::MalformedRedirectUri
    );
}

// Errors that redirect.

#[test]
fn duplicate_parameter_is_invalid_request() {
    let error = redirect_error(&also(valid_params(), "nonce", "other"));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(error.redirect_uri, CALLBACK);
}

#[test]
fn duplicate_state_is_invalid_request_and_not_echoed() {
    let error = redirect_error(&also(valid_params(), "state", "second"));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.state, None);
}

#[test]
fn oversized_value_is_invalid_request() {
    let long = "n".repeat(MAX_VALUE_BYTES + 1);
    assert_eq!(
        error_code(&with(valid_params(), "nonce", &long)),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn id_token_hint_may_be_longer_than_other_values() {
    let hint = "h".repeat(MAX_VALUE_BYTES * 2);
    let params = with(valid_params(), "id_token_hint", &hint);
    assert_eq!(run(&params).unwrap().id_token_hint, Some(hint));
    let too_long = "h".repeat(MAX_LARGE_VALUE_BYTES + 1);
    assert_eq!(
        error_code(&with(valid_params(), "id_token_hint", &too_long)),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn oversized_state_is_invalid_request_and_not_echoed() {
    let long = "s".repeat(MAX_VALUE_BYTES + 1);
    let error = redirect_error(&with(valid_params(), "state", &long));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.state, None);
}

#[test]
fn empty_parameter_is_treated_as_omitted() {
    let error = redirect_error(&with(valid_params(), "state", ""));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.description, "state is required.");
}

#[test]
fn missing_response_type_is_invalid_request() {
    assert_eq!(
        error_code(&without(valid_params(), "response_type")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn response_type_other_than_code_is_unsupported_response_type() {
    for response_type in ["token", "id_token", "code id_token", "code token", "none"] {
        assert_eq!(
            error_code(&with(valid_params(), "response_type", response_type)),
            ErrorCode::UnsupportedResponseType,
            "{response_type}"
        );
    }
}

#[test]
fn missing_state_is_invalid_request() {
    let error = redirect_error(&without(valid_params(), "state"));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.state, None);
}

#[test]
fn missing_nonce_is_invalid_request() {
    assert_eq!(
        error_code(&without(valid_params(), "nonce")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn missing_code_challenge_is_invalid_request() {
    assert_eq!(
        error_code(&without(valid_params(), "code_challenge")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn plain_pkce_method_is_refused() {
    let params = with(valid_params(), "code_challenge_method", "plain");
    let params = with(
        params,
        "code_challenge",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    );
    assert_eq!(error_code(&params), ErrorCode::InvalidRequest);
}

#[test]
fn missing_pkce_method_is_refused() {
    assert_eq!(
        error_code(&without(valid_params(), "code_challenge_method")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn malformed_code_challenge_is_invalid_request() {
    assert_eq!(
        error_code(&with(valid_params(), "code_challenge", "too-short")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn missing_scope_is_invalid_scope() {
    assert_eq!(
        error_code(&without(valid_params(), "scope")),
        ErrorCode::InvalidScope
    );
}

#[test]
fn scope_without_openid_is_invalid_scope() {
    assert_eq!(
        error_code(&with(valid_params(), "scope", "profile email")),
        ErrorCode::InvalidScope
    );
}

#[test]
fn scope_the_client_is_not_registered_for_is_invalid_scope() {
    let error = redirect_error(&with(valid_params(), "scope", "openid profile phone"));
    assert_eq!(error.error, ErrorCode::InvalidScope);
    assert!(error.description.contains("phone"));
}

#[test]
fn unknown_scope_is_invalid_scope() {
    assert_eq!(
        error_code(&with(valid_params(), "scope", "openid no-such-scope")),
        ErrorCode::InvalidScope
    );
}

#[test]
fn scope_with_forbidden_characters_is_invalid_scope() {
    assert_eq!(
        error_code(&with(valid_params(), "scope", "openid pro\"file")),
        ErrorCode::InvalidScope
    );
}

#[test]
fn scopes_are_deduplicated_in_order() {
    let params = with(
        valid_params(),
        "scope",
        "email  openid email profile openid",
    );
    assert_eq!(
        run(&params).unwrap().scopes,
        vec!["email", "openid", "profile"]
    );
}

#[test]
fn scope_openid_alone_is_accepted_for_a_client_without_scopes() {
    let raw = parse(&with(valid_params(), "scope", "openid")).unwrap();
    let mut bare = client();
    bare.scopes.clear();
    assert_eq!(validate(&raw, Some(&bare)).unwrap().scopes, vec!["openid"]);
}

#[test]
fn request_object_is_request_not_supported() {
    assert_eq!(
        error_code(&with(valid_params(), "request", "eyJhbGciOiJub25lIn0.e30.")),
        ErrorCode::RequestNotSupported
    );
}

#[test]
fn request_uri_is_request_uri_not_supported() {
    assert_eq!(
        error_code(&with(
            valid_params(),
            "request_uri",
            "urn:ietf:params:oauth:request_uri:abc"
        )),
        ErrorCode::RequestUriNotSupported
    );
}

#[test]
fn registration_parameter_is_registration_not_supported() {
    assert_eq!(
        error_code(&with(valid_params(), "registration", "{}")),
        ErrorCode::RegistrationNotSupported
    );
}

#[test]
fn form_post_response_mode_is_accepted() {
    let params = with(valid_params(), "response_mode", "form_post");
    assert_eq!(run(&params).unwrap().response_mode, ResponseMode::FormPost);
}

#[test]
fn fragment_response_mode_is_invalid_request() {
    let error = redirect_error(&with(valid_params(), "response_mode", "fragment"));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.response_mode, ResponseMode::Query);
}

#[test]
fn unknown_response_mode_is_invalid_request() {
    assert_eq!(
        error_code(&with(valid_params(), "response_mode", "query.jwt")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn errors_after_form_post_is_requested_use_form_post() {
    let params = with(valid_params(), "response_mode", "form_post");
    let error = redirect_error(&without(params, "nonce"));
    assert_eq!(error.error, ErrorCode::InvalidRequest);
    assert_eq!(error.response_mode, ResponseMode::FormPost);
}

#[test]
fn prompt_none_is_accepted() {
    let params = with(valid_params(), "prompt", "none");
    assert_eq!(run(&params).unwrap().prompt, Prompt::None);
}

#[test]
fn prompt_login_is_accepted() {
    let params = with(valid_params(), "prompt", "login");
    assert_eq!(run(&params).unwrap().prompt, Prompt::Login);
}

#[test]
fn prompt_none_with_login_is_invalid_request() {
    assert_eq!(
        error_code(&with(valid_params(), "prompt", "none login")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn prompt_consent_is_consent_required() {
    assert_eq!(
        error_code(&with(valid_params(), "prompt", "login consent")),
        ErrorCode::ConsentRequired
    );
}

#[test]
fn prompt_select_account_is_account_selection_required() {
    assert_eq!(
        error_code(&with(valid_params(), "prompt", "select_account")),
        ErrorCode::AccountSelectionRequired
    );
}

#[test]
fn unknown_prompt_value_is_invalid_request() {
    assert_eq!(
        error_code(&with(valid_params(), "prompt", "create")),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn max_age_zero_is_accepted() {
    let params = with(valid_params(), "max_age", "0");
    assert_eq!(run(&params).unwrap().max_age, Some(0));
}

#[test]
fn bad_max_age_is_invalid_request() {
    for max_age in ["-1", "+5", "1.5", "ten", "99999999999", " 5"] {
        assert_eq!(
            error_code(&with(valid_params(), "max_age", max_age)),
            ErrorCode::InvalidRequest,
            "{max_age}"
        );
    }
}

#[test]
fn claims_that_are_not_a_json_object_are_invalid_request() {
    for claims in ["[1,2]", "\"id_token\"", "{not json"] {
        assert_eq!(
            error_code(&with(valid_params(), "claims", claims)),
            ErrorCode::InvalidRequest,
            "{claims}"
        );
    }
}

#[test]
fn redirect_errors_echo_state_and_use_the_requested_redirect_uri() {
    let params = with(valid_params(), "redirect_uri", CALLBACK_WITH_QUERY);
    let error = redirect_error(&with(params, "response_type", "token"));
    assert_eq!(error.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(error.redirect_uri, CALLBACK_WITH_QUERY);
    assert!(!error.description.is_empty());
}

// Responses.

#[test]
fn success_redirect_carries_code_state_and_iss() {
    let request = run(&valid_params()).unwrap();
    let response = request.success("c0de", ISSUER);
    assert_eq!(
        response.delivery(),
        Delivery::Redirect {
            location: "https://rp.example/callback?code=c0de&state=af0ifjsldkj\
                       &iss=https%3A%2F%2Fsegl.example"
                .to_owned()
        }
    );
}

#[test]
fn success_redirect_keeps_the_existing_query() {
    let params = with(valid_params(), "redirect_uri", CALLBACK_WITH_QUERY);
    let request = run(&params).unwrap();
    assert_eq!(
        request.success("c0de", ISSUER).location(),
        "https://rp.example/cb?tenant=1&code=c0de&state=af0ifjsldkj\
         &iss=https%3A%2F%2Fsegl.example"
    );
}

#[test]
fn redirect_location_handles_trailing_question_mark_and_fragment() {
    let mut response = run(&valid_params()).unwrap().success("c", ISSUER);
    response.redirect_uri = "https://rp.example/cb?".to_owned();
    assert!(response
        .location()
        .starts_with("https://rp.example/cb?code=c&"));
    response.redirect_uri = "https://rp.example/cb?a=1&".to_owned();
    assert!(response
        .location()
        .starts_with("https://rp.example/cb?a=1&code=c&"));
    response.redirect_uri = "https://rp.example/cb#frag".to_owned();
    let location = response.location();
    assert!(location.starts_with("https://rp.example/cb?code=c&"));
    assert!(location.ends_with("#frag"));
}

#[test]
fn error_redirect_carries_error_description_state_and_iss() {
    let error = redirect_error(&with(valid_params(), "response_type", "token"));
    let location = error.to_response(ISSUER).location();
    assert_eq!(
        location,
        "https://rp.example/callback?error=unsupported_response_type\
         &error_description=response_type+token+is+not+supported%3B+use+code.\
         &state=af0ifjsldkj&iss=https%3A%2F%2Fsegl.example"
    );
}

#[test]
fn error_description_echoes_request_values_safely() {
    let response_type = format!("\"tok\\en\u{e6}{}", "x".repeat(100));
    let error = redirect_error(&with(valid_params(), "response_type", &response_type));
    assert_eq!(error.error, ErrorCode::UnsupportedResponseType);
    let response = error.to_response(ISSUER);
    let (_, description) = &response.parameters()[1];
    assert!(description.starts_with("response_type ?tok?en?xxx"));
    assert!(description.contains("x... is not supported"));
    assert!(description
        .chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')));
}

#[test]
fn error_without_state_omits_state() {
    let error = redirect_error(&without(valid_params(), "state"));
    let response = error.to_response(ISSUER);
    let names: Vec<&str> = response
        .parameters()
        .iter()
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(names, vec!["error", "error_description", "iss"]);
}

#[test]
fn request_error_for_access_denied_keeps_state_and_mode() {
    let params = with(valid_params(), "response_mode", "form_post");
    let request = run(&params).unwrap();
    let error = request.error(ErrorCode::AccessDenied, "The citizen cancelled the login.");
    assert_eq!(error.error.as_str(), "access_denied");
    assert_eq!(error.state.as_deref(), Some("af0ifjsldkj"));
    assert_eq!(error.response_mode, ResponseMode::FormPost);
}

#[test]
fn form_post_response_lists_fields_for_the_redirect_uri() {
    let params = with(valid_params(), "response_mode", "form_post");
    let params = with(params, "state", "a b&c");
    let request = run(&params).unwrap();
    assert_eq!(
        request.success("c0de", ISSUER).delivery(),
        Delivery::FormPost {
            action: CALLBACK.to_owned(),
            fields: vec![
                ("code".to_owned(), "c0de".to_owned()),
                ("state".to_owned(), "a b&c".to_owned()),
                ("iss".to_owned(), ISSUER.to_owned()),
            ],
        }
    );
}

#[test]
fn query_values_are_form_url_encoded() {
    let params = with(valid_params(), "state", "a b&c=d");
    let request = run(&params).unwrap();
    assert!(request
        .success("c0de", ISSUER)
        .location()
        .contains("&state=a+b%26c%3Dd&"));
}
