//! Unit tests of `client_auth.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

const ISSUER: &str = "https://segl.example";
const TOKEN_ENDPOINT: &str = "https://segl.example/token";
const AUDIENCES: [&str; 2] = [ISSUER, TOKEN_ENDPOINT];
const NOW: i64 = 1_750_000_000;

struct TestKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn ec_key(kid: &str) -> TestKey {
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    // Uncompressed point: 0x04 || x || y, 32 bytes each.
    let point = pair.public_key().as_ref();
    assert_eq!(point.len(), 65);
    let (x, y) = point[1..].split_at(32);
    TestKey {
        kid: kid.to_owned(),
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({
            "kty": "EC",
            "crv": "P-256",
            "kid": kid,
            "use": "sig",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        }),
    }
}

fn jwt_client(keys: &[&TestKey]) -> Client {
    Client::builder("rp-jwt", "https://rp.example/callback")
        .name("JWT client")
        .auth_method(ClientAuthMethod::PrivateKeyJwt)
        .jwks(json!({ "keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() }))
        .build()
}

fn secret_client(method: ClientAuthMethod, secret: &str) -> Client {
    Client::builder("rp-secret", "https://rp.example/callback")
        .name("Secret client")
        .auth_method(method)
        .secret(secret)
        .build()
}

fn claims() -> Value {
    json!({
        "iss": "rp-jwt",
        "sub": "rp-jwt",
        "aud": TOKEN_ENDPOINT,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "f5b2c3d4-0001",
    })
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")))
}

/// Parses a private_key_jwt token request and authenticates against `client`.
fn authenticate_assertion(
    assertion: &str,
    client: &Client,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let credentials = ClientCredentials::parse(
        None,
        &form(&[
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ]),
    )?;
    authenticate(&credentials, Some(client), &AUDIENCES, NOW)
}

fn assertion_error(assertion: &str, client: &Client) -> AssertionError {
    match authenticate_assertion(assertion, client) {
        Err(ClientAuthError::InvalidClient(Rejection::Assertion(error))) => error,
        other => panic!("expected an assertion error, got {other:?}"),
    }
}

fn with_claim(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn without_claim(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

// HTTP Basic.

#[test]
fn basic_header_is_parsed() {
    assert_eq!(
        parse_basic_authorization(&basic("rp-1", "s3cret")).unwrap(),
        ("rp-1".to_owned(), "s3cret".to_owned())
    );
}

#[test]
fn basic_header_parts_are_form_url_decoded() {
    let header = basic("my%20client%3Aone", "p%3Ass+w%C3%B8rd%25");
    assert_eq!(
        parse_basic_authorization(&header).unwrap(),
        ("my client:one".to_owned(), "p:ss wørd%".to_owned())
    );
}

#[test]
fn basic_scheme_is_case_insensitive() {
    let header = format!("bAsIc   {}", STANDARD.encode("rp-1:s"));
    assert_eq!(parse_basic_authorization(&header).unwrap().0, "rp-1");
}

#[test]
fn malformed_basic_headers_are_invalid_client() {
    let malformed = Err(ClientAuthError::InvalidClient(
        Rejection::MalformedAuthorizationHeader,
    ));
    for header in [
        "Bearer abc".to_owned(),
        "Basic".to_owned(),
        "Basic !!!not-base64".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode("rp-1:bad%zzescape")),
        format!("Basic {}", STANDARD.encode(":secret")),
        format!("Basic {}", STANDARD.encode("rp-1:")),
        format!("Basic {}", STANDARD.encode([b'r', b':', 0xff])),
    ] {
        assert_eq!(parse_basic_authorization(&header), malformed, "{header}");
    }
}

// Secrets.

#[test]
fn client_secret_hash_is_hex_sha256() {
    assert_eq!(
        hash_client_secret("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn right_secret_verifies_and_wrong_secret_does_not() {
    let client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    assert!(verify_client_secret(&client, "s3cret"));
    assert!(!verify_client_secret(&client, "s3cret "));
    assert!(!verify_client_secret(&client, ""));
}

#[test]
fn client_without_secret_never_verifies() {
    let mut client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    client.secret_hash = None;
    assert!(!verify_client_secret(&client, "s3cret"));
    client.secret_hash = Some("not hex".to_owned());
    assert!(!verify_client_secret(&client, "s3cret"));
}

#[test]
fn uppercase_stored_hash_still_verifies() {
    let mut client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    client.secret_hash = Some(hash_client_secret("s3cret").to_uppercase());
    assert!(verify_client_secret(&client, "s3cret"));
}

#[test]
fn generated_secrets_are_43_base64url_characters_and_differ() {
    let first = generate_client_secret().unwrap();
    let second = generate_client_secret().unwrap();
    assert_eq!(first.len(), 43);
    assert_eq!(URL_SAFE_NO_PAD.decode(&first).unwrap().len(), 32);
    assert_ne!(first, second);
}

// Choosing the method.

#[test]
fn basic_header_means_client_secret_basic() {
    let credentials = ClientCredentials::parse(Some(&basic("rp-1", "s")), &[]).unwrap();
    assert_eq!(credentials.method(), ClientAuthMethod::ClientSecretBasic);
    assert_eq!(credentials.client_id(), "rp-1");
}

#[test]
fn basic_header_with_the_same_client_id_in_the_body_is_accepted() {
    let body = form(&[("client_id", "rp-1")]);
    let credentials = ClientCredentials::parse(Some(&basic("rp-1", "s")), &body).unwrap();
    assert_eq!(credentials.method(), ClientAuthMethod::ClientSecretBasic);
}

#[test]
fn basic_header_with_another_client_id_in_the_body_is_invalid_client() {
    let body = form(&[("client_id", "rp-2")]);
    assert_eq!(
        ClientCredentials::parse(Some(&basic("rp-1", "s")), &body),
        Err(ClientAuthError::InvalidClient(Rejection::ClientIdMismatch))
    );
}

#[test]
fn secret_in_body_means_client_secret_post() {
    let body = form(&[("client_id", "rp-1"), ("client_secret", "s")]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert_eq!(credentials.method(), ClientAuthMethod::ClientSecretPost);
}

#[test]
fn secret_in_body_without_client_id_is_invalid_client() {
    let body = form(&[("client_secret", "s")]);
    assert_eq!(
        ClientCredentials::parse(None, &body),
        Err(ClientAuthError::InvalidClient(Rejection::MissingClientId))
    );
}

#[test]
fn assertion_means_private_key_jwt_and_claims_its_issuer() {
    let key = ec_key("k1");
    let body = form(&[
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", &sign(&key, &claims())),
    ]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert_eq!(credentials.method(), ClientAuthMethod::PrivateKeyJwt);
    assert_eq!(credentials.client_id(), "rp-jwt");
}

#[test]
fn client_id_alone_means_none() {
    let credentials = ClientCredentials::parse(None, &form(&[("client_id", "rp-1")])).unwrap();
    assert_eq!(credentials.method(), ClientAuthMethod::None);
}

#[test]
fn no_credentials_at_all_is_invalid_client() {
    assert_eq!(
        ClientCredentials::parse(None, &form(&[("grant_type", "authorization_code")])),
        Err(ClientAuthError::InvalidClient(Rejection::NoCredentials))
    );
}

#[test]
fn basic_header_and_body_secret_is_more_than_one_method() {
    let body = form(&[("client_id", "rp-1"), ("client_secret", "s")]);
    let error = ClientCredentials::parse(Some(&basic("rp-1", "s")), &body).unwrap_err();
    assert_eq!(
        error,
        ClientAuthError::InvalidRequest(RequestProblem::MultipleMethods)
    );
    assert_eq!(error.error_code(), "invalid_request");
}

#[test]
fn basic_header_and_assertion_is_more_than_one_method() {
    let body = form(&[
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", "a.b.c"),
    ]);
    assert_eq!(
        ClientCredentials::parse(Some(&basic("rp-1", "s")), &body),
        Err(ClientAuthError::InvalidRequest(
            RequestProblem::MultipleMethods
        ))
    );
}

#[test]
fn body_secret_and_assertion_is_more_than_one_method() {
    let body = form(&[
        ("client_id", "rp-1"),
        ("client_secret", "s"),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", "a.b.c"),
    ]);
    assert_eq!(
        ClientCredentials::parse(None, &body),
        Err(ClientAuthError::InvalidRequest(
            RequestProblem::MultipleMethods
        ))
    );
}

#[test]
fn repeated_client_secret_is_invalid_request() {
    let body = form(&[
        ("client_id", "rp-1"),
        ("client_secret", "s"),
        ("client_secret", "t"),
    ]);
    assert_eq!(
        ClientCredentials::parse(None, &body),
        Err(ClientAuthError::InvalidRequest(
            RequestProblem::RepeatedParameter
        ))
    );
}

#[test]
fn assertion_without_type_is_invalid_request() {
    let body = form(&[("client_id", "rp-1"), ("client_assertion", "a.b.c")]);
    assert_eq!(
        ClientCredentials::parse(None, &body),
        Err(ClientAuthError::InvalidRequest(
            RequestProblem::IncompleteAssertion
        ))
    );
}

#[test]
fn unknown_assertion_type_is_invalid_client() {
    let body = form(&[
        ("client_id", "rp-1"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        ),
        ("client_assertion", "a.b.c"),
    ]);
    assert_eq!(
        ClientCredentials::parse(None, &body),
        Err(ClientAuthError::InvalidClient(
            Rejection::UnsupportedAssertionType
        ))
    );
}

#[test]
fn debug_output_hides_the_secret() {
    let credentials = ClientCredentials::parse(Some(&basic("rp-1", "hunter2")), &[]).unwrap();
    assert!(!format!("{credentials:?}").contains("hunter2"));
}

// Authenticating secrets and public clients.

#[test]
fn registered_basic_client_with_right_secret_is_authenticated() {
    let client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    let credentials = ClientCredentials::parse(Some(&basic("rp-secret", "s3cret")), &[]).unwrap();
    let authenticated = authenticate(&credentials, Some(&client), &AUDIENCES, NOW).unwrap();
    assert_eq!(authenticated.client_id, "rp-secret");
    assert_eq!(authenticated.method, ClientAuthMethod::ClientSecretBasic);
    assert_eq!(authenticated.assertion, None);
}

#[test]
fn registered_post_client_with_right_secret_is_authenticated() {
    let client = secret_client(ClientAuthMethod::ClientSecretPost, "s3cret");
    let body = form(&[("client_id", "rp-secret"), ("client_secret", "s3cret")]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert!(authenticate(&credentials, Some(&client), &AUDIENCES, NOW).is_ok());
}

#[test]
fn wrong_secret_is_invalid_client() {
    let client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    let credentials = ClientCredentials::parse(Some(&basic("rp-secret", "guess")), &[]).unwrap();
    let error = authenticate(&credentials, Some(&client), &AUDIENCES, NOW).unwrap_err();
    assert_eq!(
        error,
        ClientAuthError::InvalidClient(Rejection::WrongSecret)
    );
    assert_eq!(error.error_code(), "invalid_client");
}

#[test]
fn unknown_client_is_invalid_client() {
    let credentials = ClientCredentials::parse(Some(&basic("rp-nobody", "s")), &[]).unwrap();
    assert_eq!(
        authenticate(&credentials, None, &AUDIENCES, NOW),
        Err(ClientAuthError::InvalidClient(Rejection::UnknownClient))
    );
}

#[test]
fn method_other_than_the_registered_one_is_invalid_client() {
    let client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    let body = form(&[("client_id", "rp-secret"), ("client_secret", "s3cret")]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert_eq!(
        authenticate(&credentials, Some(&client), &AUDIENCES, NOW),
        Err(ClientAuthError::InvalidClient(
            Rejection::MethodNotRegistered {
                registered: ClientAuthMethod::ClientSecretBasic,
                used: ClientAuthMethod::ClientSecretPost,
            }
        ))
    );
}

#[test]
fn confidential_client_cannot_fall_back_to_none() {
    let client = secret_client(ClientAuthMethod::ClientSecretBasic, "s3cret");
    let credentials = ClientCredentials::parse(None, &form(&[("client_id", "rp-secret")])).unwrap();
    assert!(matches!(
        authenticate(&credentials, Some(&client), &AUDIENCES, NOW),
        Err(ClientAuthError::InvalidClient(
            Rejection::MethodNotRegistered { .. }
        ))
    ));
}

#[test]
fn public_client_is_identified_by_client_id() {
    let mut client = secret_client(ClientAuthMethod::None, "unused");
    client.secret_hash = None;
    let credentials = ClientCredentials::parse(None, &form(&[("client_id", "rp-secret")])).unwrap();
    let authenticated = authenticate(&credentials, Some(&client), &AUDIENCES, NOW).unwrap();
    assert_eq!(authenticated.method, ClientAuthMethod::None);
}

// private_key_jwt.

#[test]
fn valid_assertion_authenticates_and_returns_its_jti() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let authenticated = authenticate_assertion(&sign(&key, &claims()), &client).unwrap();
    assert_eq!(authenticated.client_id, "rp-jwt");
    assert_eq!(authenticated.method, ClientAuthMethod::PrivateKeyJwt);
    assert_eq!(
        authenticated.assertion,
        Some(AssertionId {
            jti: "f5b2c3d4-0001".to_owned(),
            exp: NOW + 60
        })
    );
}

#[test]
fn issuer_as_audience_in_an_array_is_accepted() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("aud", json!(["https://other.example", ISSUER]));
    assert!(authenticate_assertion(&sign(&key, &claims), &client).is_ok());
}

#[test]
fn assertion_without_kid_is_checked_against_each_fitting_key() {
    let other = ec_key("k0");
    let key = ec_key("k1");
    let client = jwt_client(&[&other, &key]);
    let header = Header::new(Algorithm::ES256);
    let assertion = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
    assert!(authenticate_assertion(&assertion, &client).is_ok());
}

#[test]
fn assertion_with_matching_client_id_in_the_body_is_accepted() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let body = form(&[
        ("client_id", "rp-jwt"),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", &sign(&key, &claims())),
    ]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert!(authenticate(&credentials, Some(&client), &AUDIENCES, NOW).is_ok());
}

#[test]
fn assertion_for_another_client_id_in_the_body_is_refused() {
    // The body names rp-jwt, whose keys verify the signature, but the assertion was
    // issued as another client.
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("iss", json!("rp-other"));
    let claims = {
        let mut claims = claims;
        claims["sub"] = json!("rp-other");
        claims
    };
    let body = form(&[
        ("client_id", "rp-jwt"),
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", &sign(&key, &claims)),
    ]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert_eq!(
        authenticate(&credentials, Some(&client), &AUDIENCES, NOW),
        Err(AssertionError::IssuerNotClient.into())
    );
}

#[test]
fn wrong_audience_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("aud", json!("https://other-idp.example/token"));
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::WrongAudience
    );
}

#[test]
fn missing_audience_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    assert_eq!(
        assertion_error(&sign(&key, &without_claim("aud")), &client),
        AssertionError::WrongAudience
    );
}

#[test]
fn expired_assertion_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("iat", json!(NOW - 900));
    let claims = {
        let mut claims = claims;
        claims["exp"] = json!(NOW - CLOCK_SKEW_SECONDS);
        claims
    };
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::Expired
    );
}

#[test]
fn recently_expired_assertion_is_accepted_within_clock_skew() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("iat", json!(NOW - 400));
    let claims = {
        let mut claims = claims;
        claims["exp"] = json!(NOW - CLOCK_SKEW_SECONDS + 1);
        claims
    };
    assert!(authenticate_assertion(&sign(&key, &claims), &client).is_ok());
}

#[test]
fn assertion_living_longer_than_ten_minutes_from_iat_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("exp", json!(NOW + MAX_ASSERTION_LIFETIME_SECONDS + 1));
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::LifetimeTooLong
    );
}

#[test]
fn assertion_expiring_far_in_the_future_without_iat_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = without_claim("iat");
    let claims = {
        let mut claims = claims;
        claims["exp"] = json!(NOW + 86_400);
        claims
    };
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::LifetimeTooLong
    );
}

#[test]
fn assertion_issued_in_the_future_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("iat", json!(NOW + CLOCK_SKEW_SECONDS + 1));
    let claims = {
        let mut claims = claims;
        claims["exp"] = json!(NOW + CLOCK_SKEW_SECONDS + 60);
        claims
    };
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::IssuedInFuture
    );
}

#[test]
fn assertion_before_nbf_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("nbf", json!(NOW + CLOCK_SKEW_SECONDS + 1));
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::NotYetValid
    );
}

#[test]
fn missing_exp_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    assert_eq!(
        assertion_error(&sign(&key, &without_claim("exp")), &client),
        AssertionError::MissingExpiry
    );
}

#[test]
fn missing_jti_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    assert_eq!(
        assertion_error(&sign(&key, &without_claim("jti")), &client),
        AssertionError::MissingJti
    );
}

#[test]
fn wrong_signature_is_refused() {
    let registered = ec_key("k1");
    let impostor = ec_key("k1");
    let client = jwt_client(&[&registered]);
    assert_eq!(
        assertion_error(&sign(&impostor, &claims()), &client),
        AssertionError::BadSignature
    );
}

#[test]
fn tampered_payload_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let assertion = sign(&key, &claims());
    let mut parts: Vec<&str> = assertion.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(with_claim("jti", json!("forged")).to_string());
    parts[1] = &forged;
    assert_eq!(
        assertion_error(&parts.join("."), &client),
        AssertionError::BadSignature
    );
}

#[test]
fn unknown_kid_is_refused() {
    let registered = ec_key("k1");
    let other = ec_key("k2");
    let client = jwt_client(&[&registered]);
    assert_eq!(
        assertion_error(&sign(&other, &claims()), &client),
        AssertionError::NoMatchingKey
    );
}

#[test]
fn client_without_keys_is_refused() {
    let key = ec_key("k1");
    let mut client = jwt_client(&[&key]);
    client.jwks = None;
    assert_eq!(
        assertion_error(&sign(&key, &claims()), &client),
        AssertionError::NoKeys
    );
}

#[test]
fn issuer_different_from_subject_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let claims = with_claim("sub", json!("someone-else"));
    assert_eq!(
        assertion_error(&sign(&key, &claims), &client),
        AssertionError::SubjectNotClient
    );
}

#[test]
fn alg_none_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    let assertion = format!("{header}.{payload}.");
    assert_eq!(
        assertion_error(&assertion, &client),
        AssertionError::DisallowedAlgorithm
    );
}

#[test]
fn hs256_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".to_owned());
    // The classic confusion attack: the public key used as an HMAC secret.
    let secret = key.jwk.to_string();
    let assertion = jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        assertion_error(&assertion, &client),
        AssertionError::DisallowedAlgorithm
    );
}

#[test]
fn critical_header_extension_is_refused() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".to_owned());
    header.crit = Some(vec!["exp".to_owned()]);
    let assertion = jsonwebtoken::encode(&header, &claims(), &key.encoding).unwrap();
    assert_eq!(
        assertion_error(&assertion, &client),
        AssertionError::CriticalHeader
    );
}

#[test]
fn key_registered_for_another_algorithm_is_not_used() {
    let mut key = ec_key("k1");
    key.jwk["alg"] = json!("ES384");
    let client = jwt_client(&[&key]);
    assert_eq!(
        assertion_error(&sign(&key, &claims()), &client),
        AssertionError::NoMatchingKey
    );
}

#[test]
fn garbage_assertion_is_malformed() {
    let key = ec_key("k1");
    let client = jwt_client(&[&key]);
    for assertion in ["not-a-jwt", "a.b", "a.b.c.d", "e30.e30.", "W10.e30.sig"] {
        let body = form(&[
            ("client_id", "rp-jwt"),
            ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ]);
        let credentials = ClientCredentials::parse(None, &body).unwrap();
        let result = authenticate(&credentials, Some(&client), &AUDIENCES, NOW);
        assert!(
            matches!(
                result,
                Err(ClientAuthError::InvalidClient(Rejection::Assertion(
                    AssertionError::Malformed | AssertionError::DisallowedAlgorithm
                )))
            ),
            "{assertion}: {result:?}"
        );
    }
}

#[test]
fn assertion_claiming_an_unknown_issuer_is_unknown_client() {
    let key = ec_key("k1");
    let claims = with_claim("iss", json!("rp-nobody"));
    let body = form(&[
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", &sign(&key, &claims)),
    ]);
    let credentials = ClientCredentials::parse(None, &body).unwrap();
    assert_eq!(credentials.client_id(), "rp-nobody");
    assert_eq!(
        authenticate(&credentials, None, &AUDIENCES, NOW),
        Err(ClientAuthError::InvalidClient(Rejection::UnknownClient))
    );
}
