//! The portal's routes driven with `tower::ServiceExt::oneshot` against a small mock of Segl
//! (discovery, JWKS, token, userinfo) on a real port, since the portal reaches Segl over HTTP.

use super::router;
use crate::config::PortalConfig;
use crate::keys::{decode_pem, generate_client_key};
use crate::level::Level;
use crate::logout_token::BACKCHANNEL_LOGOUT_EVENT;
use crate::relying_party::RelyingParty;
use aws_lc_rs::digest;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const CLIENT_ID: &str = "borger-dk";
const SUBJECT: &str = "pairwise-subject-1";
const SID: &str = "segl-session-1";

fn now() -> i64 {
    super::now()
}

/// What the mock remembers of an authorization request, keyed by the code it issued.
struct Grant {
    nonce: String,
    code_challenge: String,
    redirect_uri: String,
    acr: String,
}

/// A stand-in for Segl, enough for the portal's side of the flow.
struct MockSegl {
    issuer: String,
    /// Segl's signing key, its kid and the JWKS published; replaced by `rotate`.
    signing: Mutex<(EncodingKey, String, Value)>,
    client_jwks: Value,
    /// When set, ID tokens carry this nonce instead of the one asked for.
    wrong_nonce: Mutex<Option<String>>,
    grants: Mutex<HashMap<String, Grant>>,
    /// While true, discovery answers 503 (Segl not up yet).
    down: AtomicBool,
    /// The last token request's form, for inspection.
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    userinfo: Value,
}

type Mock = Arc<MockSegl>;

async fn discovery(State(mock): State<Mock>) -> Response {
    if mock.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let issuer = &mock.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "backchannel_logout_supported": true,
    }))
    .into_response()
}

async fn key_set(State(mock): State<Mock>) -> Json<Value> {
    Json(mock.signing.lock().unwrap().2.clone())
}

fn token_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_grant", "error_description": description })),
    )
        .into_response()
}

/// Checks PKCE and the `private_key_jwt` assertion as Segl would, then issues tokens.
async fn token(State(mock): State<Mock>, Form(form): Form<HashMap<String, String>>) -> Response {
    mock.token_requests.lock().unwrap().push(form.clone());
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return token_error("no client assertion");
    }
    let jwk: Jwk = serde_json::from_value(mock.client_jwks["keys"][0].clone()).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[format!("{}/token", mock.issuer)]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.sub = Some(CLIENT_ID.to_owned());
    let Ok(assertion) = jsonwebtoken::decode::<Value>(
        field("client_assertion"),
        &DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    ) else {
        return token_error("bad client assertion");
    };
    assert!(assertion.claims["jti"].is_string());
    let Some(grant) = mock.grants.lock().unwrap().remove(&field("code")) else {
        return token_error("unknown code");
    };
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(
        &digest::SHA256,
        field("code_verifier").as_bytes(),
    ));
    if challenge != grant.code_challenge || field("redirect_uri") != grant.redirect_uri {
        return token_error("PKCE or redirect_uri mismatch");
    }
    let now = now();
    let id_token = mock.sign(&json!({
        "iss": mock.issuer,
        "sub": SUBJECT,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "auth_time": now,
        "nonce": mock.wrong_nonce.lock().unwrap().clone().unwrap_or(grant.nonce),
        "acr": grant.acr,
        "sid": SID,
        "loa": "low",
    }));
    Json(json!({
        "access_token": "access-token-1",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

async fn userinfo(State(mock): State<Mock>, headers: HeaderMap) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some("Bearer access-token-1")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(mock.userinfo.clone()).into_response()
}

impl MockSegl {
    fn sign_typed(&self, claims: &Value, typ: &str) -> String {
        let signing = self.signing.lock().unwrap();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(signing.1.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &signing.0).unwrap()
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_typed(claims, "JWT")
    }

    fn sign_logout(&self, claims: &Value) -> String {
        self.sign_typed(claims, "logout+jwt")
    }

    /// A key rotation: a new key signs from now on; the JWKS publishes only the new key.
    fn rotate(&self) {
        *self.signing.lock().unwrap() = signing_key();
    }

    /// Plays Segl's authorize endpoint for the browser: reads the request the portal built
    /// and returns the callback URL's path and query, granting `granted`.
    fn authorize(&self, authorize_url: &str, granted: Level) -> String {
        let url = openidconnect::url::Url::parse(authorize_url).unwrap();
        assert!(authorize_url.starts_with(&format!("{}/authorize?", self.issuer)));
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], CLIENT_ID);
        assert_eq!(query["code_challenge_method"], "S256");
        assert!(query["scope"].split(' ').any(|scope| scope == "openid"));
        let code = format!("code-{}", query["state"]);
        self.grants.lock().unwrap().insert(
            code.clone(),
            Grant {
                nonce: query["nonce"].clone(),
                code_challenge: query["code_challenge"].clone(),
                redirect_uri: query["redirect_uri"].clone(),
                acr: granted.uri().to_owned(),
            },
        );
        let callback = openidconnect::url::Url::parse_with_params(
            "http://portal.test/callback",
            &[
                ("code", code.as_str()),
                ("state", query["state"].as_str()),
                ("iss", self.issuer.as_str()),
            ],
        )
        .unwrap();
        format!("/callback?{}", callback.query().unwrap())
    }
}

struct TestPortal {
    mock: Mock,
    router: Router,
    relying_party: Arc<RelyingParty>,
}

fn signing_key() -> (EncodingKey, String, Value) {
    let (pem, jwks, kid) = generate_client_key().unwrap();
    (
        EncodingKey::from_ec_der(&decode_pem(&pem).unwrap()),
        kid,
        jwks,
    )
}

async fn spawn() -> TestPortal {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (client_pem, client_jwks, client_kid) = generate_client_key().unwrap();
    let mock = Arc::new(MockSegl {
        issuer: issuer.clone(),
        signing: Mutex::new(signing_key()),
        client_jwks,
        wrong_nonce: Mutex::new(None),
        grants: Mutex::new(HashMap::new()),
        down: AtomicBool::new(false),
        token_requests: Mutex::new(Vec::new()),
        userinfo: json!({
            "sub": SUBJECT,
            "name": "Anna Jensen",
            "email": "anna@example.dk",
            "dk_cpr": "0707614285",
            "privileges": [{ "scope": "urn:dk:gov:saml:cvrNumberIdentifier:12345678", "privileges": ["urn:dk:some:privilege"] }],
        }),
    });
    let provider = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(key_set))
        .route("/token", post(token))
        .route("/userinfo", get(userinfo))
        .with_state(mock.clone());
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let config = PortalConfig {
        name: "Borger.dk (demo)".to_owned(),
        listen: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://portal.test".to_owned(),
        issuer,
        client_id: CLIENT_ID.to_owned(),
        private_key_pem: client_pem,
        key_id: client_kid,
        scopes: vec!["profile".to_owned(), "email".to_owned()],
        shows_cpr: true,
    };
    let relying_party =
        Arc::new(RelyingParty::new(&config, "127.0.0.1:8081".parse().unwrap()).unwrap());
    TestPortal {
        mock,
        router: router(relying_party.clone()).unwrap(),
        relying_party,
    }
}

/// A browser's view of one response.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// `name=value` pairs of the Set-Cookie headers.
    fn cookies(&self) -> Vec<(String, String, String)> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| {
                let text = value.to_str().unwrap().to_owned();
                let pair = text.split(';').next().unwrap().to_owned();
                let (name, value) = pair.split_once('=').unwrap();
                (name.to_owned(), value.to_owned(), text)
            })
            .collect()
    }
}

impl TestPortal {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, path: &str, cookie: &str) -> Answer {
        let request = Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    async fn post_form(&self, path: &str, cookie: &str, form: &str) -> Answer {
        let request = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(request).await
    }

    /// `/login?...` → the authorize URL and the login cookie.
    async fn start(&self, path: &str) -> (String, String) {
        let answer = self.get(path, "").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let (name, value, attributes) = answer.cookies().remove(0);
        assert!(attributes.contains("HttpOnly"));
        assert!(attributes.contains("SameSite=Lax"));
        assert!(attributes.contains("Path=/callback"));
        (answer.location().to_owned(), format!("{name}={value}"))
    }

    /// A whole login at `granted`; returns the session cookie.
    async fn log_in(&self, path: &str, granted: Level, existing_session: &str) -> String {
        let (authorize_url, login_cookie) = self.start(path).await;
        let callback = self.mock.authorize(&authorize_url, granted);
        let cookie = if existing_session.is_empty() {
            login_cookie
        } else {
            format!("{login_cookie}; {existing_session}")
        };
        let answer = self.get(&callback, &cookie).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let (name, value, attributes) = answer
            .cookies()
            .into_iter()
            .find(|(name, _, _)| name.starts_with("rp_session"))
            .expect("a session cookie");
        assert!(attributes.contains("HttpOnly"));
        assert!(attributes.contains("SameSite=Lax"));
        format!("{name}={value}")
    }
}

fn query_value(url: &str, name: &str) -> Option<String> {
    openidconnect::url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[tokio::test]
async fn callback_with_access_denied_renders_a_4xx_page() {
    let portal = spawn().await;
    let (authorize_url, login_cookie) = portal.start("/login").await;
    let state = query_value(&authorize_url, "state").unwrap();
    let issuer = portal.mock.issuer.clone();
    let callback = openidconnect::url::Url::parse_with_params(
        "http://portal.test/callback",
        &[
            ("error", "access_denied"),
            ("error_description", "The citizen cancelled <script>"),
            ("state", state.as_str()),
            ("iss", issuer.as_str()),
        ],
    )
    .unwrap();
    let answer = portal
        .get(
            &format!("/callback?{}", callback.query().unwrap()),
            &login_cookie,
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.body.contains("Login cancelled"));
    assert!(!answer.body.contains("<script>"));
    assert!(answer
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .is_some());
    // The login in flight is used up.
    let again = portal
        .get(
            &format!("/callback?{}", callback.query().unwrap()),
            &login_cookie,
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn login_required_and_unknown_errors_are_4xx_pages_too() {
    let portal = spawn().await;
    for (error, status) in [
        ("login_required", StatusCode::UNAUTHORIZED),
        ("interaction_required", StatusCode::UNAUTHORIZED),
        ("invalid_scope", StatusCode::BAD_REQUEST),
    ] {
        let (authorize_url, login_cookie) = portal.start("/login").await;
        let state = query_value(&authorize_url, "state").unwrap();
        let path = format!(
            "/callback?error={error}&state={state}&iss={}",
            portal.mock.issuer
        );
        let answer = portal.get(&path, &login_cookie).await;
        assert_eq!(answer.status, status, "{error}");
        assert!(answer.body.contains(error));
    }
}

#[tokio::test]
async fn a_callback_without_the_login_cookie_is_refused() {
    let portal = spawn().await;
    let (authorize_url, _) = portal.start("/login").await;
    let callback = portal.mock.authorize(&authorize_url, Level::Low);
    let answer = portal.get(&callback, "").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("Login expired"));
}

#[tokio::test]
async fn a_callback_from_another_issuer_is_refused() {
    let portal = spawn().await;
    let (authorize_url, login_cookie) = portal.start("/login").await;
    let state = query_value(&authorize_url, "state").unwrap();
    let path = format!("/callback?code=c&state={state}&iss=https%3A%2F%2Fevil.example");
    let answer = portal.get(&path, &login_cookie).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(portal.mock.token_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_login_request_asks_for_low_by_default_and_substantial_on_request() {
    let portal = spawn().await;
    let (low, _) = portal.start("/login").await;
    assert_eq!(
        query_value(&low, "acr_values").as_deref(),
        Some(Level::Low.uri())
    );
    assert!(query_value(&low, "nonce").is_some());
    assert!(query_value(&low, "state").is_some());
    assert_eq!(
        query_value(&low, "redirect_uri").as_deref(),
        Some("http://portal.test/callback")
    );
    let (substantial, _) = portal.start("/login?level=substantial").await;
    assert_eq!(
        query_value(&substantial, "acr_values").as_deref(),
        Some(Level::Substantial.uri())
    );
    let unknown = portal.get("/login?level=extreme", "").await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_full_login_uses_private_key_jwt_and_shows_every_claim() {
    let portal = spawn().await;
    let session = portal.log_in("/login", Level::Low, "").await;

    let token_request = portal.mock.token_requests.lock().unwrap()[0].clone();
    assert_eq!(token_request["client_id"], CLIENT_ID);
    assert!(!token_request.contains_key("client_secret"));
    assert!(token_request.contains_key("code_verifier"));

    let landing = portal.get("/", &session).await;
    assert!(landing.body.contains("Anna Jensen"));

    let me = portal.get("/me", &session).await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body.contains(SUBJECT));
    assert!(me.body.contains("0707614285"));
    assert!(me.body.contains("CPR number"));
    assert!(me.body.contains("anna@example.dk"));
    assert!(me.body.contains(SID));
    assert_eq!(me.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

    let poa = portal.get("/poa", &session).await;
    assert!(poa.body.contains("cvrNumberIdentifier:12345678"));
}

#[tokio::test]
async fn a_login_below_the_requested_level_is_refused() {
    let portal = spawn().await;
    let (authorize_url, login_cookie) = portal.start("/login?level=substantial").await;
    let callback = portal.mock.authorize(&authorize_url, Level::Low);
    let answer = portal.get(&callback, &login_cookie).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer
        .cookies()
        .iter()
        .all(|(name, _, _)| !name.starts_with("rp_session")));
}

#[tokio::test]
async fn the_secure_page_steps_a_low_session_up_to_substantial() {
    let portal = spawn().await;
    let anonymous = portal.get("/secure", "").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);

    let low = portal.log_in("/login", Level::Low, "").await;
    let step_up = portal.get("/secure", &low).await;
    assert_eq!(step_up.status, StatusCode::SEE_OTHER);
    assert_eq!(
        step_up.location(),
        "/login?level=substantial&return=/secure"
    );

    let substantial = portal
        .log_in(step_up.location(), Level::Substantial, &low)
        .await;
    let secure = portal.get("/secure", &substantial).await;
    assert_eq!(secure.status, StatusCode::OK);
    assert!(secure.body.contains("Substantial"));
    // The Low session was replaced, not kept alongside.
    let old = portal.get("/me", &low).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_need_a_session() {
    let portal = spawn().await;
    for path in ["/me", "/poa"] {
        let answer = portal.get(path, "").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        assert_eq!(answer.location(), "/");
    }
}

#[tokio::test]
async fn logout_needs_the_csrf_token_then_continues_at_segl() {
    let portal = spawn().await;
    let session = portal.log_in("/login", Level::Low, "").await;
    let forged = portal.post_form("/logout", &session, "csrf=wrong").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(portal.get("/me", &session).await.status, StatusCode::OK);

    let landing = portal.get("/", &session).await;
    let marker = "name=\"csrf\" value=\"";
    let start = landing.body.find(marker).unwrap() + marker.len();
    let csrf = &landing.body[start..start + landing.body[start..].find('"').unwrap()];
    let logout = portal
        .post_form("/logout", &session, &format!("csrf={csrf}"))
        .await;
    assert_eq!(logout.status, StatusCode::SEE_OTHER);
    let location = logout.location();
    assert!(location.starts_with(&format!("{}/logout?", portal.mock.issuer)));
    assert!(query_value(location, "id_token_hint").is_some());
    assert!(query_value(location, "state").is_some());
    assert_eq!(
        query_value(location, "post_logout_redirect_uri").as_deref(),
        Some("http://portal.test/")
    );
    assert_eq!(
        portal.get("/me", &session).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn back_channel_logout_ends_the_session_named_by_sid() {
    let portal = spawn().await;
    let session = portal.log_in("/login", Level::Low, "").await;
    let now = now();
    let claims = json!({
        "iss": portal.mock.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": "logout-1",
        "sid": SID,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });

    let mut wrong_audience = claims.clone();
    wrong_audience["aud"] = json!("someone-else");
    let refused = portal
        .post_form(
            "/backchannel-logout",
            "",
            &format!("logout_token={}", portal.mock.sign_logout(&wrong_audience)),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    let error: Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(error["error"], "invalid_request");
    assert_eq!(portal.get("/me", &session).await.status, StatusCode::OK);

    let token = portal.mock.sign_logout(&claims);
    let accepted = portal
        .post_form("/backchannel-logout", "", &format!("logout_token={token}"))
        .await;
    assert_eq!(accepted.status, StatusCode::OK);
    assert_eq!(
        accepted.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    assert_eq!(
        portal.get("/me", &session).await.status,
        StatusCode::SEE_OTHER
    );

    let replayed = portal
        .post_form("/backchannel-logout", "", &format!("logout_token={token}"))
        .await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);

    let not_a_form = portal.post_form("/backchannel-logout", "", "").await;
    assert_eq!(not_a_form.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_portal_started_before_segl_retries_discovery_at_login() {
    let portal = spawn().await;
    portal.mock.down.store(true, Ordering::SeqCst);
    let answer = portal.get("/login", "").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body.contains("Segl cannot be reached"));

    portal.mock.down.store(false, Ordering::SeqCst);
    let session = portal.log_in("/login", Level::Low, "").await;
    assert!(portal
        .relying_party
        .session(session.split_once('=').map(|(_, id)| id), now())
        .is_some());
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let portal = spawn().await;
    for path in ["/", "/nowhere", "/assets/portal.css"] {
        let answer = portal.get(path, "").await;
        let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("style-src 'self'"));
        assert_eq!(answer.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(answer.headers[header::REFERRER_POLICY], "no-referrer");
    }
    assert_eq!(
        portal.get("/nowhere", "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let portal = spawn().await;
    *portal.mock.wrong_nonce.lock().unwrap() = Some("replayed-nonce".to_owned());
    let (authorize_url, login_cookie) = portal.start("/login").await;
    let callback = portal.mock.authorize(&authorize_url, Level::Low);
    let answer = portal.get(&callback, &login_cookie).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert!(answer
        .cookies()
        .iter()
        .all(|(name, _, _)| !name.starts_with("rp_session")));
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_again() {
    let portal = spawn().await;
    // Discovery (and the JWKS) is cached by the first login...
    portal.log_in("/login", Level::Low, "").await;
    // ...then Segl rotates: ID tokens and logout tokens come with an unknown kid.
    portal.mock.rotate();
    let session = portal.log_in("/login", Level::Low, "").await;
    let now = now();
    let token = portal.mock.sign_logout(&json!({
        "iss": portal.mock.issuer,
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 120,
        "jti": "logout-after-rotation",
        "sub": SUBJECT,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    }));
    let accepted = portal
        .post_form("/backchannel-logout", "", &format!("logout_token={token}"))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(
        portal.get("/me", &session).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn an_id_token_signed_by_an_unknown_key_is_refused() {
    let portal = spawn().await;
    let (authorize_url, login_cookie) = portal.start("/login").await;
    // A key that is in no JWKS Segl publishes, under the published kid.
    let published_kid = portal.mock.signing.lock().unwrap().1.clone();
    let (impostor, _, _) = signing_key();
    portal.mock.signing.lock().unwrap().0 = impostor;
    let callback = portal.mock.authorize(&authorize_url, Level::Low);
    let answer = portal.get(&callback, &login_cookie).await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(portal.mock.signing.lock().unwrap().1, published_kid);
}
