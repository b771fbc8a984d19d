//! Server-rendered pages (minijinja, HTML autoescaped) in Danish and English.

use crate::authorize::{AuthorizationResponse, Delivery, PageError};
use crate::flows::account::{Enrolment, Gate, PasskeyForm, TotpForm};
use crate::flows::login::{DenialReason, FormProblem, LoginStage, LoginView};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use citizen_registry::AssuranceLevel;
use minijinja::{context, Environment};
use std::sync::Arc;
pub(crate) use texts::Language;
use texts::{choice_texts, format_time, texts};

mod texts;

/// Templates, compiled once at start.
#[derive(Clone)]
pub(crate) struct Pages {
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
    pub(crate) fn new() -> Result<Self, minijinja::Error> {
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

    pub(crate) fn login(
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
    pub(crate) fn page_error(&self, error: PageError, headers: &HeaderMap) -> Response {
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

    pub(crate) fn bad_request(&self, description: &str, headers: &HeaderMap) -> Response {
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

    pub(crate) fn expired(&self, headers: &HeaderMap) -> Response {
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

    pub(crate) fn denied(
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

    pub(crate) fn busy(&self, headers: &HeaderMap) -> Response {
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
    pub(crate) fn unavailable(&self, headers: &HeaderMap) -> Response {
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

    pub(crate) fn internal(&self, headers: &HeaderMap) -> Response {
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
    pub(crate) fn logout_confirm(
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
    pub(crate) fn logged_out(
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
    pub(crate) fn account(
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
    pub(crate) fn enrolment_gate(
        &self,
        gate: &Gate,
        failed: bool,
        headers: &HeaderMap,
    ) -> Response {
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
    pub(crate) fn totp_form(
        &self,
        form: &TotpForm,
        wrong_code: bool,
        headers: &HeaderMap,
    ) -> Response {
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
    pub(crate) fn passkey_form(&self, form: &PasskeyForm, headers: &HeaderMap) -> Response {
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

    pub(crate) fn enrolment_refused(&self, headers: &HeaderMap) -> Response {
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
    pub(crate) fn respond(
        &self,
        response: &AuthorizationResponse,
        headers: &HeaderMap,
    ) -> Response {
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
