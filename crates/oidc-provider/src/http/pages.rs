//! Server-rendered pages (minijinja, HTML autoescaped) in Danish and English.

use crate::authorize::{AuthorizationResponse, Delivery, PageError};
use crate::flows::account::{Enrolment, Gate, PasskeyForm, TotpForm};
use crate::flows::login::{DenialReason, FormProblem, LoginStage, LoginView};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use citizen_registry::AssuranceLevel;
use minijinja::{context, Environment};
use serde::Serialize;
use std::sync::Arc;

/// The two languages of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Danish,
    English,
}

impl Language {
    fn code(self) -> &'static str {
        match self {
            Self::Danish => "da",
            Self::English => "en",
        }
    }

    /// OIDC Core 3.1.2.1 `ui_locales` first, then `Accept-Language` (RFC 9110 12.5.4, in order
    /// of quality), then Danish.
    pub fn choose(ui_locales: &[String], headers: &HeaderMap) -> Self {
        let pick = |tag: &str| {
            let primary = tag
                .split(['-', '_'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            match primary.as_str() {
                "da" => Some(Self::Danish),
                "en" => Some(Self::English),
                _ => None,
            }
        };
        if let Some(language) = ui_locales.iter().find_map(|tag| pick(tag)) {
            return language;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        let mut ranked: Vec<(f32, &str)> = accept
            .split(',')
            .filter_map(|entry| {
                let mut parts = entry.split(';');
                let tag = parts.next()?.trim();
                let quality = parts
                    .find_map(|part| part.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (quality > 0.0).then_some((quality, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .into_iter()
            .find_map(|(_, tag)| pick(tag))
            .unwrap_or(Self::Danish)
    }
}

/// Every string of the pages, per language.
#[derive(Serialize)]
struct Texts {
    log_in_title: &'static str,
    code_title: &'static str,
    continue_to: &'static str,
    level_needed: &'static str,
    user_id: &'static str,
    password: &'static str,
    log_in: &'static str,
    code_intro: &'static str,
    code: &'static str,
    confirm: &'static str,
    cancel: &'static str,
    back_to_service: &'static str,
    sending: &'static str,
    continue_button: &'static str,
    invalid_credentials: &'static str,
    wrong_code: &'static str,
    error_title: &'static str,
    expired_title: &'static str,
    expired: &'static str,
    denied_title: &'static str,
    denied_identity: &'static str,
    denied_factor: &'static str,
    denied_codes: &'static str,
    busy_title: &'static str,
    busy: &'static str,
    internal: &'static str,
    unavailable: &'static str,
    low: &'static str,
    substantial: &'static str,
    high: &'static str,
    logout_title: &'static str,
    logout_question: &'static str,
    log_out: &'static str,
    logged_out: &'static str,
    logging_out_of: &'static str,
    account_title: &'static str,
    account_intro: &'static str,
    sessions_caption: &'static str,
    started: &'static str,
    level: &'static str,
    services: &'static str,
    end_session: &'static str,
    this_browser: &'static str,
    session_ended: &'static str,
    not_logged_in: &'static str,
    passkey_title: &'static str,
    passkey_intro: &'static str,
    use_passkey: &'static str,
    passkey_rejected: &'static str,
    authenticators_title: &'static str,
    app_enrolled: &'static str,
    app_missing: &'static str,
    enrol_app: &'static str,
    passkeys_caption: &'static str,
    passkey_name: &'static str,
    added: &'static str,
    last_used: &'static str,
    never: &'static str,
    no_passkeys: &'static str,
    add_passkey: &'static str,
    enrolled: &'static str,
    reauth_title: &'static str,
    reauth_intro: &'static str,
    reauth_failed: &'static str,
    app_title: &'static str,
    app_intro: &'static str,
    qr_alt: &'static str,
    secret: &'static str,
    setup_link: &'static str,
    add_passkey_title: &'static str,
    add_passkey_intro: &'static str,
    enrolment_refused: &'static str,
    needs_app: &'static str,
    app_by_administrator: &'static str,
    passkeys_off: &'static str,
    back_to_account: &'static str,
}

const DANISH: Texts = Texts {
    log_in_title: "Log på",
    code_title: "Indtast kode",
    continue_to: "Du logger på hos",
    level_needed: "Sikringsniveau:",
    user_id: "Bruger-id",
    password: "Adgangskode",
    log_in: "Log på",
    code_intro: "Indtast den 6-cifrede kode fra din kodeviser-app.",
    code: "Engangskode",
    confirm: "Bekræft",
    cancel: "Afbryd",
    back_to_service: "Tilbage til tjenesten",
    sending: "Sender dig videre …",
    continue_button: "Fortsæt",
    invalid_credentials: "Forkert bruger-id eller adgangskode, eller for mange forsøg. Prøv igen senere.",
    wrong_code: "Koden er forkert eller allerede brugt. Prøv igen.",
    error_title: "Der opstod en fejl",
    expired_title: "Login udløbet",
    expired: "Dit login er udløbet eller blev startet i en anden browser. Gå tilbage til tjenesten og prøv igen.",
    denied_title: "Login ikke muligt",
    denied_identity: "Din identitet er ikke sikret på det niveau, tjenesten kræver.",
    denied_factor: "Tjenesten kræver en ekstra faktor, som du ikke har tilknyttet.",
    denied_codes: "For mange forkerte koder. Loginet er afbrudt.",
    busy_title: "Travlt lige nu",
    busy: "Der er mange, der logger på lige nu. Prøv igen om et øjeblik.",
    internal: "Noget gik galt hos os. Prøv igen senere.",
    unavailable: "Tjenesten er midlertidigt utilgængelig. Prøv igen om et øjeblik.",
    low: "Lav",
    substantial: "Betydelig",
    high: "Høj",
    logout_title: "Log af",
    logout_question: "Vil du logge af Segl og alle tjenester, du er logget på med Segl?",
    log_out: "Log af",
    logged_out: "Du er logget af.",
    logging_out_of: "Logger af tjeneste",
    account_title: "Dine sessioner",
    account_intro: "Her er dine aktive log-ins hos Segl,",
    sessions_caption: "Aktive sessioner",
    started: "Logget på",
    level: "Niveau",
    services: "Tjenester",
    end_session: "Afslut session",
    this_browser: "denne browser",
    session_ended: "Sessionen er afsluttet, og tjenesterne har fået besked.",
    not_logged_in: "Du er ikke logget på Segl i denne browser. Log på hos en tjeneste først.",
    passkey_title: "Brug adgangsnøgle",
    passkey_intro: "Bekræft med din adgangsnøgle (passkey) og den pinkode, det fingeraftryk eller den ansigtsgenkendelse, der låser den op.",
    use_passkey: "Brug adgangsnøgle",
    passkey_rejected: "Adgangsnøglen blev ikke godkendt. Prøv igen.",
    authenticators_title: "Dine loginmidler",
    app_enrolled: "Kodeviser-app: tilknyttet.",
    app_missing: "Kodeviser-app: ikke tilknyttet.",
    enrol_app: "Skift til en ny kodeviser-app",
    passkeys_caption: "Adgangsnøgler (passkeys)",
    passkey_name: "Navn på adgangsnøglen",
    added: "Tilføjet",
    last_used: "Senest brugt",
    never: "Aldrig",
    no_passkeys: "Du har ingen adgangsnøgler.",
    add_passkey: "Tilføj en adgangsnøgle",
    enrolled: "Loginmidlet er tilknyttet.",
    reauth_title: "Bekræft, at det er dig",
    reauth_intro: "For at tilknytte et loginmiddel skal du logge på igen.",
    reauth_failed: "Forkert adgangskode eller kode. Prøv igen.",
    app_title: "Tilknyt en kodeviser-app",
    app_intro: "Scan QR-koden med din kodeviser-app, eller indtast hemmeligheden. Bekræft derefter med den første kode fra appen.",
    qr_alt: "QR-kode til kodeviser-appen",
    secret: "Hemmelighed",
    setup_link: "Opsætningslink",
    add_passkey_title: "Tilføj en adgangsnøgle",
    add_passkey_intro: "Giv adgangsnøglen et navn, og følg din browsers anvisninger. Adgangsnøglen giver sikringsniveau Høj, når din identitet er sikret på Høj.",
    enrolment_refused: "Loginmidlet kunne ikke tilknyttes, eller formularen er udløbet. Prøv igen.",
    needs_app: "En adgangsnøgle kræver, at du logger på igen på sikringsniveau Betydelig med adgangskode og kodeviser-app. Din første kodeviser-app tilknyttes af en administrator, som kontrollerer din identitet.",
    app_by_administrator: "Din første kodeviser-app tilknyttes af en administrator, som kontrollerer din identitet: appen giver sikringsniveau Betydelig, og det kan en adgangskode alene ikke give adgang til. Når du har en app, kan du skifte den her ved at logge på igen med adgangskode og app.",
    passkeys_off: "Adgangsnøgler kan ikke bruges på denne server.",
    back_to_account: "Tilbage til din konto",
};

const ENGLISH: Texts = Texts {
    log_in_title: "Log in",
    code_title: "Enter code",
    continue_to: "You are logging in to",
    level_needed: "Assurance level:",
    user_id: "User ID",
    password: "Password",
    log_in: "Log in",
    code_intro: "Enter the 6-digit code from your authenticator app.",
    code: "One-time code",
    confirm: "Confirm",
    cancel: "Cancel",
    back_to_service: "Back to the service",
    sending: "Sending you on …",
    continue_button: "Continue",
    invalid_credentials: "Wrong user ID or password, or too many attempts. Try again later.",
    wrong_code: "The code is wrong or already used. Try again.",
    error_title: "Something went wrong",
    expired_title: "Login expired",
    expired: "Your login has expired or was started in another browser. Go back to the service and try again.",
    denied_title: "Login not possible",
    denied_identity: "Your identity is not proofed at the level the service requires.",
    denied_factor: "The service requires an extra factor that you have not enrolled.",
    denied_codes: "Too many wrong codes. The login was stopped.",
    busy_title: "Busy right now",
    busy: "Many people are logging in right now. Try again in a moment.",
    internal: "Something went wrong on our side. Try again later.",
    unavailable: "The service is temporarily unavailable. Try again in a moment.",
    low: "Low",
    substantial: "Substantial",
    high: "High",
    logout_title: "Log out",
    logout_question: "Do you want to log out of Segl and every service you logged in to with Segl?",
    log_out: "Log out",
    logged_out: "You are logged out.",
    logging_out_of: "Logging out of a service",
    account_title: "Your sessions",
    account_intro: "These are your active logins at Segl,",
    sessions_caption: "Active sessions",
    started: "Logged in",
    level: "Level",
    services: "Services",
    end_session: "End session",
    this_browser: "this browser",
    session_ended: "The session has ended and its services were told.",
    not_logged_in: "You are not logged in to Segl in this browser. Log in at a service first.",
    passkey_title: "Use your passkey",
    passkey_intro: "Confirm with your passkey and the PIN, fingerprint or face that unlocks it.",
    use_passkey: "Use passkey",
    passkey_rejected: "The passkey was not accepted. Try again.",
    authenticators_title: "Your authenticators",
    app_enrolled: "Authenticator app: enrolled.",
    app_missing: "Authenticator app: not enrolled.",
    enrol_app: "Change to a new authenticator app",
    passkeys_caption: "Passkeys",
    passkey_name: "Name of the passkey",
    added: "Added",
    last_used: "Last used",
    never: "Never",
    no_passkeys: "You have no passkeys.",
    add_passkey: "Add a passkey",
    enrolled: "The authenticator is enrolled.",
    reauth_title: "Confirm it is you",
    reauth_intro: "To enrol an authenticator, log in again.",
    reauth_failed: "Wrong password or code. Try again.",
    app_title: "Enrol an authenticator app",
    app_intro: "Scan the QR code with your authenticator app, or type in the secret. Then confirm with the first code from the app.",
    qr_alt: "QR code for the authenticator app",
    secret: "Secret",
    setup_link: "Setup link",
    add_passkey_title: "Add a passkey",
    add_passkey_intro: "Give the passkey a name and follow your browser's prompts. A passkey gives level High when your identity is proofed at High.",
    enrolment_refused: "The authenticator could not be enrolled, or the form expired. Try again.",
    needs_app: "Adding a passkey needs a fresh login at level Substantial, with your password and authenticator app. Your first authenticator app is enrolled by an administrator, who checks your identity.",
    app_by_administrator: "Your first authenticator app is enrolled by an administrator, who checks your identity: the app gives level Substantial, which a password alone must not unlock. Once you have an app, you can change it here after logging in again with your password and the app.",
    passkeys_off: "Passkeys are not available on this server.",
    back_to_account: "Back to your account",
};

/// The strings of the identity choice page.
#[derive(Serialize)]
struct ChoiceTexts {
    title: &'static str,
    intro: &'static str,
    legend: &'static str,
    myself: &'static str,
}

fn choice_texts(language: Language) -> &'static ChoiceTexts {
    match language {
        Language::Danish => &ChoiceTexts {
            title: "Vælg hvem du logger ind som",
            intro: "Du kan logge ind som dig selv, for en virksomhed eller med en fuldmagt.",
            legend: "Log ind som",
            myself: "Mig selv",
        },
        Language::English => &ChoiceTexts {
            title: "Choose who you log in as",
            intro: "You can log in as yourself, for an organisation, or under a power of attorney.",
            legend: "Log in as",
            myself: "Myself",
        },
    }
}

fn format_time(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Danish => &DANISH,
        Language::English => &ENGLISH,
    }
}

/// Templates, compiled once at start.
#[derive(Clone)]
pub struct Pages {
    environment: Arc<Environment<'static>>,
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Pages {
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut environment = Environment::new();
        environment.add_template("base.html", include_str!("../../templates/base.html"))?;
        environment.add_template("login.html", include_str!("../../templates/login.html"))?;
        environment.add_template("choose.html", include_str!("../../templates/choose.html"))?;
        environment.add_template("message.html", include_str!("../../templates/message.html"))?;
        environment.add_template(
            "form_post.html",
            include_str!("../../templates/form_post.html"),
        )?;
        environment.add_template("logout.html", include_str!("../../templates/logout.html"))?;
        environment.add_template("account.html", include_str!("../../templates/account.html"))?;
        environment.add_template("enrol.html", include_str!("../../templates/enrol.html"))?;
        Ok(Self {
            environment: Arc::new(environment),
        })
    }

    fn render(&self, name: &str, context: minijinja::Value) -> String {
        self.environment
            .get_template(name)
            .and_then(|template| template.render(context))
            .unwrap_or_else(|error| {
                tracing::error!(%error, template = name, "template failed");
                "<!DOCTYPE html><title>Segl</title><p>Error</p>".to_owned()
            })
    }

    pub fn login(
        &self,
        view: &LoginView,
        problem: Option<FormProblem>,
        headers: &HeaderMap,
        status: StatusCode,
    ) -> Response {
        let language = Language::choose(&view.ui_locales, headers);
        let t = texts(language);
        let (stage, title) = match view.stage {
            LoginStage::Password => ("password", t.log_in_title),
            LoginStage::OneTimeCode => ("code", t.code_title),
            LoginStage::Choose => return self.choose(view, language, status),
            LoginStage::Passkey => ("passkey", t.passkey_title),
        };
        let error = problem.map(|problem| match problem {
            FormProblem::InvalidCredentials => t.invalid_credentials,
            FormProblem::WrongCode => t.wrong_code,
            FormProblem::PasskeyRejected => t.passkey_rejected,
        });
        // JSON escaped for a script block by `passkey::Ceremonies` (no `<`, `>` or `&`).
        let passkey_options = view
            .passkey_options
            .clone()
            .map(minijinja::Value::from_safe_string);
        let level_name = match view.level {
            AssuranceLevel::Low => t.low,
            AssuranceLevel::Substantial => t.substantial,
            AssuranceLevel::High => t.high,
        };
        let body = self.render(
            "login.html",
            context! {
                lang => language.code(), t, title, stage, error, level_name,
                client_name => view.client_name, pending_id => view.pending_id, csrf => view.csrf_token,
                login_hint => view.login_hint.clone().unwrap_or_default(), passkey_options,
            },
        );
        html(status, body)
    }

    /// The identity choice after authentication (professional identity or power of attorney).
    fn choose(&self, view: &LoginView, language: Language, status: StatusCode) -> Response {
        let t = texts(language);
        let c = choice_texts(language);
        let choices: Vec<minijinja::Value> = view
            .choices
            .iter()
            .map(|option| context! { value => option.value, label => option.label })
            .collect();
        let body = self.render(
            "choose.html",
            context! {
                lang => language.code(), t, c, title => c.title, choices,
                client_name => view.client_name, pending_id => view.pending_id, csrf => view.csrf_token,
            },
        );
        html(status, body)
    }

    fn message(
        &self,
        language: Language,
        status: StatusCode,
        title: &str,
        message: &str,
        detail: Option<String>,
        return_to: Option<&AuthorizationResponse>,
    ) -> Response {
        let t = texts(language);
        let (return_to, return_method, return_fields) = match return_to {
            Some(response) => match response.delivery() {
                Delivery::Redirect { location } => {
                    // A GET form carries the query parameters as fields.
                    let parsed = url::Url::parse(&location).ok();
                    let action = parsed.as_ref().map(|url| {
                        let mut base = url.clone();
                        base.set_query(None);
                        base.to_string()
                    });
                    let fields: Vec<(String, String)> = parsed
                        .map(|url| url.query_pairs().into_owned().collect())
                        .unwrap_or_default();
                    (action, "get", fields)
                }
                Delivery::FormPost { action, fields } => (Some(action), "post", fields),
            },
            None => (None, "get", Vec::new()),
        };
        let body = self.render(
            "message.html",
            context! {
                lang => language.code(), t, title, message, detail, is_error => status.is_client_error() || status.is_server_error() || return_to.is_some(),
                return_to, return_method, return_fields,
            },
        );
        html(status, body)
    }

    /// OIDC Core 3.1.2.6: errors that must not redirect are shown to the citizen.
    pub fn page_error(&self, error: PageError, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        self.message(
            language,
            StatusCode::BAD_REQUEST,
            t.error_title,
            &error.to_string(),
            None,
            None,
        )
    }

    pub fn bad_request(&self, description: &str, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        self.message(
            language,
            StatusCode::BAD_REQUEST,
            t.error_title,
            description,
            None,
            None,
        )
    }

    pub fn expired(&self, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        self.message(
            language,
            StatusCode::BAD_REQUEST,
            t.expired_title,
            t.expired,
            None,
            None,
        )
    }

    pub fn denied(
        &self,
        reason: DenialReason,
        response: &AuthorizationResponse,
        ui_locales: &[String],
        headers: &HeaderMap,
    ) -> Response {
        let language = Language::choose(ui_locales, headers);
        let t = texts(language);
        let message = match reason {
            DenialReason::IdentityLevel => t.denied_identity,
            DenialReason::NoSecondFactor => t.denied_factor,
            DenialReason::TooManyCodes => t.denied_codes,
        };
        self.message(
            language,
            StatusCode::FORBIDDEN,
            t.denied_title,
            message,
            None,
            Some(response),
        )
    }

    pub fn busy(&self, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let mut response = self.message(
            language,
            StatusCode::SERVICE_UNAVAILABLE,
            t.busy_title,
            t.busy,
            None,
            None,
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        response
    }

    /// The database cannot serve now: 503 with `Retry-After`, so the citizen (and any proxy)
    /// tries again shortly rather than seeing a server fault.
    pub fn unavailable(&self, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let mut response = self.message(
            language,
            StatusCode::SERVICE_UNAVAILABLE,
            t.error_title,
            t.unavailable,
            None,
            None,
        );
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(super::error::RETRY_AFTER_SECONDS),
        );
        response
    }

    pub fn internal(&self, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        self.message(
            language,
            StatusCode::INTERNAL_SERVER_ERROR,
            t.error_title,
            t.internal,
            None,
            None,
        )
    }

    /// RP-Initiated Logout 1.0 2: ask the citizen before ending a session the request cannot
    /// be tied to.
    pub fn logout_confirm(
        &self,
        csrf: &str,
        fields: &[(String, String)],
        headers: &HeaderMap,
    ) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let fields: Vec<&(String, String)> = fields
            .iter()
            .filter(|(name, _)| name != "confirm")
            .collect();
        let body = self.render(
            "logout.html",
            context! { lang => language.code(), t, title => t.logout_title, confirm => true, csrf, fields },
        );
        html(StatusCode::OK, body)
    }

    /// The logged-out page: front-channel iframes (Front-Channel Logout 1.0 3), then on to the
    /// client's post-logout URI. The CSP lets exactly those frames load.
    pub fn logged_out(
        &self,
        frontchannel: &[String],
        redirect: Option<&str>,
        headers: &HeaderMap,
    ) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let body = self.render(
            "logout.html",
            context! { lang => language.code(), t, title => t.logout_title, confirm => false, frontchannel, redirect },
        );
        let mut page = html(StatusCode::OK, body);
        let origins: Vec<String> = frontchannel
            .iter()
            .filter_map(|url| url::Url::parse(url).ok())
            .map(|url| url.origin().ascii_serialization())
            .collect();
        let frames = if origins.is_empty() {
            "'none'".to_owned()
        } else {
            origins.join(" ")
        };
        let policy = format!(
            "default-src 'none'; style-src 'self'; frame-src {frames}; frame-ancestors 'none'; base-uri 'none'"
        );
        if let Ok(value) = HeaderValue::from_str(&policy) {
            page.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        // With no front-channel clients to wait for, go straight back to the client.
        if let (Some(redirect), true) = (redirect, frontchannel.is_empty()) {
            let mut response = Redirect::to(redirect).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return response;
        }
        if let Some(redirect) = redirect {
            if let Ok(value) = HeaderValue::from_str(&format!("3; url={redirect}")) {
                page.headers_mut().insert(header::REFRESH, value);
            }
        }
        page
    }

    /// The citizen's sessions, or a notice that this browser has none.
    pub fn account(
        &self,
        view: Option<&crate::flows::account::AccountView>,
        ended: bool,
        enrolled: bool,
        headers: &HeaderMap,
    ) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let Some(view) = view else {
            return self.message(
                language,
                StatusCode::OK,
                t.account_title,
                t.not_logged_in,
                None,
                None,
            );
        };
        let passkeys: Vec<minijinja::Value> = view
            .passkeys
            .iter()
            .map(|passkey| {
                context! {
                    name => passkey.name, added => format_time(passkey.created_at),
                    last_used => passkey.last_used_at.map(format_time),
                }
            })
            .collect();
        let sessions: Vec<minijinja::Value> = view
            .sessions
            .iter()
            .map(|session| {
                context! {
                    sid => session.sid, started => format_time(session.started_at), level => session.level,
                    clients => session.clients, is_current => session.is_current,
                }
            })
            .collect();
        let body = self.render(
            "account.html",
            context! {
                lang => language.code(), t, title => t.account_title, name => view.name, sessions,
                csrf => view.csrf_token, ended, enrolled, has_totp => view.has_totp, passkeys,
                passkeys_available => view.passkeys_available,
            },
        );
        html(StatusCode::OK, body)
    }

    /// Enrolment cannot go on: not logged in, a fresh login first, or not reachable.
    pub fn enrolment_gate(&self, gate: &Gate, failed: bool, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        match gate {
            Gate::NotLoggedIn => self.message(
                language,
                StatusCode::FORBIDDEN,
                t.account_title,
                t.not_logged_in,
                None,
                None,
            ),
            Gate::Unreachable(enrolment) => self.message(
                language,
                StatusCode::FORBIDDEN,
                t.authenticators_title,
                match enrolment {
                    Enrolment::AuthenticatorApp => t.app_by_administrator,
                    Enrolment::Passkey => t.needs_app,
                },
                None,
                None,
            ),
            Gate::PasskeysOff => self.message(
                language,
                StatusCode::FORBIDDEN,
                t.authenticators_title,
                t.passkeys_off,
                None,
                None,
            ),
            Gate::Reauthenticate {
                enrolment,
                csrf_token,
                needs_code,
            } => {
                let error = failed.then_some(t.reauth_failed);
                let body = self.render(
                    "enrol.html",
                    context! {
                        lang => language.code(), t, title => t.reauth_title, stage => "reauth",
                        csrf => csrf_token, target => enrolment.as_str(), needs_code, error,
                    },
                );
                html(StatusCode::OK, body)
            }
            Gate::Ready(_) => Redirect::to("/account").into_response(),
        }
    }

    /// The authenticator-app form: QR code (SVG, rendered here), the otpauth URI and the secret.
    pub fn totp_form(&self, form: &TotpForm, wrong_code: bool, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let qr_code = qrcode::QrCode::new(form.otpauth_uri.as_bytes())
            .map(|code| {
                code.render::<qrcode::render::svg::Color>()
                    .min_dimensions(200, 200)
                    .build()
            })
            .ok()
            .map(|svg| {
                use base64::Engine;
                // Safe as is: only base64 characters after a fixed prefix.
                minijinja::Value::from_safe_string(format!(
                    "data:image/svg+xml;base64,{}",
                    base64::engine::general_purpose::STANDARD.encode(svg)
                ))
            });
        let error = wrong_code.then_some(t.wrong_code);
        let body = self.render(
            "enrol.html",
            context! {
                lang => language.code(), t, title => t.app_title, stage => "totp",
                csrf => form.csrf_token, qr_code, otpauth_uri => form.otpauth_uri,
                secret => form.secret_base32, enrolment => form.enrolment, error,
            },
        );
        html(StatusCode::OK, body)
    }

    /// The passkey form: the registration options for `navigator.credentials.create`.
    pub fn passkey_form(&self, form: &PasskeyForm, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        let body = self.render(
            "enrol.html",
            context! {
                lang => language.code(), t, title => t.add_passkey_title, stage => "passkey",
                csrf => form.csrf_token, challenge => form.challenge_id,
                passkey_options => minijinja::Value::from_safe_string(form.options_json.clone()),
            },
        );
        html(StatusCode::OK, body)
    }

    pub fn enrolment_refused(&self, headers: &HeaderMap) -> Response {
        let language = Language::choose(&[], headers);
        let t = texts(language);
        self.message(
            language,
            StatusCode::BAD_REQUEST,
            t.authenticators_title,
            t.enrolment_refused,
            None,
            None,
        )
    }

    /// Sends the authorization response: a 303 redirect, or an auto-posting form (OAuth 2.0
    /// Form Post Response Mode) with a CSP nonce for its one script.
    pub fn respond(&self, response: &AuthorizationResponse, headers: &HeaderMap) -> Response {
        match response.delivery() {
            Delivery::Redirect { location } => Redirect::to(&location).into_response(),
            Delivery::FormPost { action, fields } => {
                let language = Language::choose(&[], headers);
                let nonce = crate::tokens::random_token().unwrap_or_default();
                let body = self.render(
                    "form_post.html",
                    context! { lang => language.code(), t => texts(language), action, fields, nonce },
                );
                let mut page = html(StatusCode::OK, body);
                let policy = format!(
                    "default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'"
                );
                if let Ok(value) = HeaderValue::from_str(&policy) {
                    page.headers_mut()
                        .insert(header::CONTENT_SECURITY_POLICY, value);
                }
                page
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(value).expect("header"),
        );
        headers
    }

    #[test]
    fn ui_locales_win_over_accept_language() {
        assert_eq!(
            Language::choose(&["en-GB".into()], &accept("da")),
            Language::English
        );
    }

    #[test]
    fn accept_language_is_ranked_by_quality() {
        assert_eq!(
            Language::choose(&[], &accept("de;q=1, en;q=0.5, da;q=0.8")),
            Language::Danish
        );
        assert_eq!(
            Language::choose(&[], &accept("en-US,en;q=0.9")),
            Language::English
        );
    }

    #[test]
    fn danish_is_the_default() {
        assert_eq!(Language::choose(&[], &HeaderMap::new()), Language::Danish);
    }

    #[test]
    fn every_template_compiles() {
        Pages::new().expect("templates compile");
    }

    #[test]
    fn every_template_is_registered() {
        let pages = Pages::new().expect("templates compile");
        for name in [
            "base.html",
            "login.html",
            "message.html",
            "form_post.html",
            "logout.html",
            "account.html",
        ] {
            assert!(
                pages.environment.get_template(name).is_ok(),
                "{name} is not registered"
            );
        }
    }

    #[test]
    fn the_logout_confirmation_renders() {
        let pages = Pages::new().expect("templates compile");
        let response =
            pages.logout_confirm("token", &[("state".into(), "s".into())], &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::OK);
    }
}
