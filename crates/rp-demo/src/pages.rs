//! Server-rendered pages (minijinja; every value HTML-autoescaped, as the templates end in
//! `.html`). Each function takes what the page shows and returns the HTML.

use crate::session::Session;
use minijinja::{context, Environment};
use serde::Serialize;
use serde_json::Value;

/// The templates, compiled into the binary.
const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("../templates/base.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("me.html", include_str!("../templates/me.html")),
    ("secure.html", include_str!("../templates/secure.html")),
    ("poa.html", include_str!("../templates/poa.html")),
    ("message.html", include_str!("../templates/message.html")),
];

/// The stylesheet served at `/assets/portal.css`.
pub(crate) const STYLESHEET: &str = include_str!("../assets/portal.css");

/// Who is logged in, as the page header shows it.
#[derive(Debug, Serialize)]
struct User<'a> {
    name: &'a str,
    level_label: &'static str,
    csrf: &'a str,
}

impl<'a> User<'a> {
    fn of(session: &'a Session) -> Self {
        Self {
            name: &session.name,
            level_label: session.level.label(),
            csrf: &session.csrf_token,
        }
    }
}

/// One row of the claims table on `/me`.
#[derive(Debug, Serialize)]
struct ClaimRow {
    name: String,
    value: String,
    source: &'static str,
}

/// A link at the bottom of a message page.
#[derive(Debug, Serialize)]
pub(crate) struct Link {
    pub href: &'static str,
    pub label: &'static str,
}

/// A page that says one thing: an error, or the end of a logout.
#[derive(Debug)]
pub(crate) struct Message {
    pub title: &'static str,
    /// The Danish subtitle.
    pub subtitle: &'static str,
    pub message: String,
    /// A technical detail (e.g. an error code), shown small.
    pub detail: Option<String>,
    pub is_error: bool,
    pub link: Link,
}

/// A claim's value as text: strings as they are, anything else as compact JSON.
fn claim_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The compiled templates.
pub(crate) struct Pages {
    environment: Environment<'static>,
    portal_name: String,
}

impl Pages {
    pub(crate) fn new(portal_name: &str) -> Result<Self, minijinja::Error> {
        let mut environment = Environment::new();
        for (name, source) in TEMPLATES {
            environment.add_template(name, source)?;
        }
        Ok(Self {
            environment,
            portal_name: portal_name.to_owned(),
        })
    }

    fn render(
        &self,
        template: &str,
        context: minijinja::Value,
    ) -> Result<String, minijinja::Error> {
        self.environment.get_template(template)?.render(context)
    }

    /// `/`: the portal's name, the login buttons or who is logged in.
    pub(crate) fn landing(&self, session: Option<&Session>) -> Result<String, minijinja::Error> {
        self.render(
            "index.html",
            context! {
                title => "Home",
                portal_name => &self.portal_name,
                active => "home",
                user => session.map(User::of),
            },
        )
    }

    /// `/me`: name, level, pairwise `sub`, the CPR number if released, and every claim.
    pub(crate) fn me(
        &self,
        session: &Session,
        shows_cpr: bool,
    ) -> Result<String, minijinja::Error> {
        let mut claims: Vec<ClaimRow> = Vec::new();
        for (source, map) in [
            ("ID token", &session.id_token_claims),
            ("userinfo", &session.userinfo_claims),
        ] {
            for (name, value) in map {
                claims.push(ClaimRow {
                    name: name.clone(),
                    value: claim_text(value),
                    source,
                });
            }
        }
        let cpr = session.claim("dk_cpr").map(claim_text);
        self.render(
            "me.html",
            context! {
                title => "My data",
                portal_name => &self.portal_name,
                active => "me",
                user => User::of(session),
                acr => &session.acr,
                subject => &session.subject,
                cpr => cpr,
                shows_cpr => shows_cpr,
                claims => claims,
            },
        )
    }

    /// `/secure`: shown only at level Substantial or higher.
    pub(crate) fn secure(&self, session: &Session) -> Result<String, minijinja::Error> {
        self.render(
            "secure.html",
            context! {
                title => "Secure page",
                portal_name => &self.portal_name,
                active => "secure",
                user => User::of(session),
            },
        )
    }

    /// `/poa`: the `privileges` claim (and `act`), or that there is none.
    pub(crate) fn power_of_attorney(&self, session: &Session) -> Result<String, minijinja::Error> {
        let pretty = |value: &Value| {
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        };
        let privileges = session
            .claim("privileges")
            .filter(|value| !value.is_null())
            .map(pretty);
        let act = session.claim("act").map(pretty);
        self.render(
            "poa.html",
            context! {
                title => "Power of attorney",
                portal_name => &self.portal_name,
                active => "poa",
                user => User::of(session),
                privileges => privileges,
                act => act,
            },
        )
    }

    /// An error or information page.
    pub(crate) fn message(
        &self,
        message: &Message,
        session: Option<&Session>,
    ) -> Result<String, minijinja::Error> {
        self.render(
            "message.html",
            context! {
                title => message.title,
                portal_name => &self.portal_name,
                subtitle => message.subtitle,
                message => &message.message,
                detail => &message.detail,
                is_error => message.is_error,
                link => &message.link,
                user => session.map(User::of),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;
    use serde_json::{json, Map};

    fn session(userinfo: Value) -> Session {
        let Value::Object(userinfo_claims) = userinfo else {
            panic!("claims must be an object")
        };
        let mut id_token_claims = Map::new();
        id_token_claims.insert("sub".to_owned(), json!("pairwise-1"));
        id_token_claims.insert("acr".to_owned(), json!(Level::Low.uri()));
        Session {
            name: "Anna <b>Jensen</b>".to_owned(),
            subject: "pairwise-1".to_owned(),
            sid: Some("sid-1".to_owned()),
            acr: Level::Low.uri().to_owned(),
            level: Level::Low,
            id_token_claims,
            userinfo_claims,
            id_token: "a.b.c".to_owned(),
            csrf_token: "csrf-1".to_owned(),
        }
    }

    #[test]
    fn values_are_escaped() {
        let pages = Pages::new("Portal <script>").unwrap();
        let html = pages.landing(Some(&session(json!({})))).unwrap();
        assert!(
            html.contains("Anna &lt;b&gt;Jensen&lt;&#x2f;b&gt;")
                || html.contains("Anna &lt;b&gt;Jensen&lt;/b&gt;")
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("<html lang=\"en\">"));
    }

    #[test]
    fn the_landing_page_offers_login_when_logged_out() {
        let pages = Pages::new("Borger.dk (demo)").unwrap();
        let html = pages.landing(None).unwrap();
        assert!(html.contains("Log in with Segl"));
        assert!(html.contains("action=\"/login\""));
        assert!(!html.contains("/logout"));
    }

    #[test]
    fn the_logout_form_carries_the_csrf_token() {
        let pages = Pages::new("Borger.dk (demo)").unwrap();
        let html = pages.landing(Some(&session(json!({})))).unwrap();
        assert!(html.contains("name=\"csrf\" value=\"csrf-1\""));
    }

    #[test]
    fn the_cpr_number_is_shown_only_when_released() {
        let pages = Pages::new("Borger.dk (demo)").unwrap();
        let without = pages
            .me(&session(json!({ "name": "Anna" })), false)
            .unwrap();
        assert!(without.contains("CPR number: not released to this service"));
        let with = pages
            .me(&session(json!({ "dk_cpr": "0707614285" })), true)
            .unwrap();
        assert!(with.contains("0707614285"));
        assert!(!with.contains("not released"));
        assert!(with.contains("pairwise-1"));
    }

    #[test]
    fn the_power_of_attorney_page_says_when_there_is_none() {
        let pages = Pages::new("Borger.dk (demo)").unwrap();
        let none = pages.power_of_attorney(&session(json!({}))).unwrap();
        assert!(none.contains("No power of attorney in this login"));
        let some = pages
            .power_of_attorney(&session(json!({ "privileges": [{ "scope": "urn:dk:gov:saml:cvrNumberIdentifier:12345678" }] })))
            .unwrap();
        assert!(some.contains("cvrNumberIdentifier:12345678"));
    }
}
