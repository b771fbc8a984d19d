//! The pages' words in Danish and English, and the choice of language (`ui_locales`, then
//! `Accept-Language`, then Danish).

use axum::http::{header, HeaderMap};
use serde::Serialize;

/// The two languages of the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Danish,
    English,
}

impl Language {
    pub(super) fn code(self) -> &'static str {
        match self {
            Self::Danish => "da",
            Self::English => "en",
        }
    }

    /// OIDC Core 3.1.2.1 `ui_locales` first, then `Accept-Language` (RFC 9110 12.5.4, in order
    /// of quality), then Danish.
    pub(crate) fn choose(ui_locales: &[String], headers: &HeaderMap) -> Self {
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
pub(super) struct Texts {
    pub(super) log_in_title: &'static str,
    pub(super) code_title: &'static str,
    pub(super) continue_to: &'static str,
    pub(super) level_needed: &'static str,
    pub(super) user_id: &'static str,
    pub(super) password: &'static str,
    pub(super) log_in: &'static str,
    pub(super) code_intro: &'static str,
    pub(super) code: &'static str,
    pub(super) confirm: &'static str,
    pub(super) cancel: &'static str,
    pub(super) back_to_service: &'static str,
    pub(super) sending: &'static str,
    pub(super) continue_button: &'static str,
    pub(super) invalid_credentials: &'static str,
    pub(super) wrong_code: &'static str,
    pub(super) error_title: &'static str,
    pub(super) expired_title: &'static str,
    pub(super) expired: &'static str,
    pub(super) denied_title: &'static str,
    pub(super) denied_identity: &'static str,
    pub(super) denied_factor: &'static str,
    pub(super) denied_codes: &'static str,
    pub(super) busy_title: &'static str,
    pub(super) busy: &'static str,
    pub(super) internal: &'static str,
    pub(super) unavailable: &'static str,
    pub(super) low: &'static str,
    pub(super) substantial: &'static str,
    pub(super) high: &'static str,
    pub(super) logout_title: &'static str,
    pub(super) logout_question: &'static str,
    pub(super) log_out: &'static str,
    pub(super) logged_out: &'static str,
    pub(super) logging_out_of: &'static str,
    pub(super) account_title: &'static str,
    pub(super) account_intro: &'static str,
    pub(super) sessions_caption: &'static str,
    pub(super) started: &'static str,
    pub(super) level: &'static str,
    pub(super) services: &'static str,
    pub(super) end_session: &'static str,
    pub(super) this_browser: &'static str,
    pub(super) session_ended: &'static str,
    pub(super) not_logged_in: &'static str,
    pub(super) passkey_title: &'static str,
    pub(super) passkey_intro: &'static str,
    pub(super) use_passkey: &'static str,
    pub(super) passkey_rejected: &'static str,
    pub(super) authenticators_title: &'static str,
    pub(super) app_enrolled: &'static str,
    pub(super) app_missing: &'static str,
    pub(super) enrol_app: &'static str,
    pub(super) passkeys_caption: &'static str,
    pub(super) passkey_name: &'static str,
    pub(super) added: &'static str,
    pub(super) last_used: &'static str,
    pub(super) never: &'static str,
    pub(super) no_passkeys: &'static str,
    pub(super) add_passkey: &'static str,
    pub(super) enrolled: &'static str,
    pub(super) reauth_title: &'static str,
    pub(super) reauth_intro: &'static str,
    pub(super) reauth_failed: &'static str,
    pub(super) app_title: &'static str,
    pub(super) app_intro: &'static str,
    pub(super) qr_alt: &'static str,
    pub(super) secret: &'static str,
    pub(super) setup_link: &'static str,
    pub(super) add_passkey_title: &'static str,
    pub(super) add_passkey_intro: &'static str,
    pub(super) enrolment_refused: &'static str,
    pub(super) needs_app: &'static str,
    pub(super) app_by_administrator: &'static str,
    pub(super) passkeys_off: &'static str,
    pub(super) back_to_account: &'static str,
}

pub(super) const DANISH: Texts = Texts {
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

pub(super) const ENGLISH: Texts = Texts {
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
pub(super) struct ChoiceTexts {
    pub(super) title: &'static str,
    pub(super) intro: &'static str,
    pub(super) legend: &'static str,
    pub(super) myself: &'static str,
}

pub(super) fn choice_texts(language: Language) -> &'static ChoiceTexts {
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

pub(super) fn format_time(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

pub(super) fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Danish => &DANISH,
        Language::English => &ENGLISH,
    }
}
