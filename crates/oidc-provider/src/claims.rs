//! docs/NEMLOGIN.md section 3: which identity claims a client gets. Scopes map to claims, the
//! `claims` request parameter (OIDC Core 5.5) adds single claims within what the client is
//! registered for, and the client's entitlements decide the sensitive ones (`dk_cpr` only for
//! CPR-entitled public authorities; protected names masked for everyone else).

use crate::client::Client;
use citizen_registry::Citizen;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// OIO-SAML 3.0 `specVersion`.
pub(crate) const SPEC_VERSION: &str = "OIO-SAML-3.0";

/// The identity types a client can ask for in `acr_values` (docs/NEMLOGIN.md section 3).
pub(crate) const PERSON_URI: &str = "https://data.gov.dk/eid/Person";
pub(crate) const PROFESSIONAL_URI: &str = "https://data.gov.dk/eid/Professional";

/// Whether an `acr_values` entry names an identity type rather than a level.
pub(crate) fn is_identity_type(value: &str) -> bool {
    value == PERSON_URI || value == PROFESSIONAL_URI
}

/// Scopes and the claims each releases. `loa`, `ial` and `aal` describe the login and are in
/// every ID token; they are listed under `nemlogin` as NemLog-In groups them.
pub const SCOPES: [(&str, &[&str]); 8] = [
    ("openid", &["sub"]),
    (
        "profile",
        &["name", "given_name", "family_name", "birthdate", "age"],
    ),
    ("email", &["email"]),
    (
        "nemlogin",
        &["spec_ver", "identity_type", "cpr_uuid", "loa", "ial", "aal"],
    ),
    ("cpr", &["dk_cpr"]),
    (
        "professional",
        &["pro_uuid", "cvr", "org_name", "authorized_to_represent"],
    ),
    ("privileges", &["privileges", "act"]),
    // OIDC Core 11: a refresh token that outlives the SSO session.
    ("offline_access", &[]),
];

/// Names masked for a citizen with name and address protection: they are left out.
const PROTECTED_NAME_CLAIMS: [&str; 3] = ["name", "given_name", "family_name"];

/// The scope a claim belongs to.
fn scope_of(claim: &str) -> Option<&'static str> {
    SCOPES
        .iter()
        .find(|(_, claims)| claims.contains(&claim))
        .map(|(scope, _)| *scope)
}

/// OIDC Core 5.5: individual claims asked for, per target. Values and `essential` are not
/// honoured beyond asking for the claim (5.5.1: the provider may ignore them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default)]
    pub id_token: Vec<String>,
    #[serde(default)]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    /// Reads the (already JSON-object-checked) parameter; members other than `id_token` and
    /// `userinfo`, and unknown claim names, are ignored as OIDC Core 5.5 says.
    pub fn parse(parameter: Option<&str>) -> Self {
        let Some(Ok(Value::Object(members))) = parameter.map(serde_json::from_str::<Value>) else {
            return Self::default();
        };
        let names = |member: &str| -> Vec<String> {
            match members.get(member) {
                Some(Value::Object(claims)) => claims
                    .keys()
                    .filter(|name| scope_of(name).is_some())
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            }
        };
        Self {
            id_token: names("id_token"),
            userinfo: names("userinfo"),
        }
    }
}

/// The professional identity a login was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProfessionalIdentity {
    pub pro_uuid: String,
    pub cvr: String,
    pub org_name: String,
    /// CVR numbers the professional may represent.
    pub authorized_to_represent: Vec<String>,
}

/// A power of attorney the citizen chose to act under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ActingFor {
    /// `urn:dk:gov:saml:cprNumberIdentifier:<cpr>` or `...cvrNumberIdentifier:<cvr>`.
    pub principal_scope: String,
    pub privileges: Vec<String>,
}

/// Everything that decides a release, passed in (no I/O).
pub(crate) struct Release<'a> {
    pub citizen: &'a Citizen,
    pub client: &'a Client,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// Claims asked for individually for this target (ID token or userinfo).
    pub requested: &'a [String],
    /// The subject the client sees, for `act`.
    pub subject: &'a str,
    pub professional: Option<&'a ProfessionalIdentity>,
    pub acting_for: Option<&'a ActingFor>,
    /// Today, for `age`.
    pub today: time::Date,
}

/// Whether the client may receive `claim` at all: its scope must be registered for the client
/// (or be `openid`) and the client entitled to it.
fn entitled(client: &Client, claim: &str) -> bool {
    let Some(scope) = scope_of(claim) else {
        return false;
    };
    let registered = scope == "openid" || client.scopes.iter().any(|allowed| allowed == scope);
    registered
        && match scope {
            // docs/NEMLOGIN.md section 3: only CPR-entitled public authorities, never anyone else.
            "cpr" => client.public_authority && client.cpr_entitled,
            "privileges" => client.public_authority,
            _ => true,
        }
}

/// The identity claims released to the client (without the protocol claims of the login).
pub(crate) fn release(input: &Release<'_>) -> Map<String, Value> {
    let citizen = input.citizen;
    let client = input.client;
    let wanted = |claim: &str| {
        // A professional login releases its professional claims to a client registered for them.
        let professional_login =
            input.professional.is_some() && scope_of(claim) == Some("professional");
        let by_scope = professional_login
            || scope_of(claim)
                .is_some_and(|scope| input.scopes.iter().any(|granted| granted == scope));
        (by_scope || input.requested.iter().any(|asked| asked == claim)) && entitled(client, claim)
    };
    let masked = citizen.name_protected && !client.public_authority;
    let mut claims = Map::new();
    let mut put = |name: &str, value: Value| {
        if wanted(name) && !(masked && PROTECTED_NAME_CLAIMS.contains(&name)) {
            claims.insert(name.to_owned(), value);
        }
    };
    put("name", citizen.full_name().into());
    put("given_name", citizen.given_name.as_str().into());
    put("family_name", citizen.family_name.as_str().into());
    put("birthdate", citizen.birth_date().to_string().into());
    put("age", citizen.cpr.age_on(input.today).into());
    if let Some(email) = &citizen.email {
        put("email", email.as_str().into());
    }
    put("spec_ver", SPEC_VERSION.into());
    let identity_type = if input.professional.is_some() {
        "professional"
    } else {
        "private"
    };
    put("identity_type", identity_type.into());
    put("cpr_uuid", citizen.id.to_string().into());
    put("dk_cpr", citizen.cpr.digits().into());
    if let Some(professional) = input.professional {
        put("pro_uuid", professional.pro_uuid.clone().into());
        put("cvr", professional.cvr.clone().into());
        put("org_name", professional.org_name.clone().into());
        put(
            "authorized_to_represent",
            professional.authorized_to_represent.clone().into(),
        );
    }
    if let Some(acting_for) = input.acting_for {
        put(
            "privileges",
            serde_json::json!([{
                "scope": acting_for.principal_scope,
                "privileges": acting_for.privileges,
            }]),
        );
        // RFC 8693 4.1: the party acting; here the citizen who logged in.
        put("act", serde_json::json!({ "sub": input.subject }));
    }
    claims
}

/// Every claim the provider can release, for discovery.
pub(crate) fn supported_claims() -> Vec<&'static str> {
    let mut claims = Vec::new();
    for (_, released) in SCOPES {
        for claim in released {
            if !claims.contains(claim) {
                claims.push(*claim);
            }
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientAuthMethod;
    use citizen_registry::{AssuranceLevel, CitizenStatus, Email, NationalId, PersonName, UserId};
    use time::macros::date;

    fn citizen(protected: bool) -> Citizen {
        Citizen {
            id: uuid::Uuid::nil(),
            cpr: NationalId::parse("0101901234").expect("cpr"),
            user_id: UserId::parse("anna").expect("user"),
            given_name: PersonName::parse("Anna", "given name").expect("name"),
            family_name: PersonName::parse("Jensen", "family name").expect("name"),
            email: Some(Email::parse("anna@example.dk").expect("email")),
            status: CitizenStatus::Active,
            ial: AssuranceLevel::Substantial,
            has_password: true,
            has_totp: false,
            failed_attempts: 0,
            locked_until: None,
            created_at: 0,
            updated_at: 0,
            name_protected: protected,
        }
    }

    fn client(scopes: &[&str], public_authority: bool, cpr_entitled: bool) -> Client {
        Client::builder("rp", "https://rp.example.dk/cb")
            .name("RP")
            .auth_method(ClientAuthMethod::None)
            .scopes(scopes.iter().copied())
            .public_authority(public_authority)
            .cpr_entitled(cpr_entitled)
            .build()
    }

    fn released(
        citizen: &Citizen,
        client: &Client,
        scopes: &[&str],
        requested: &[&str],
    ) -> Map<String, Value> {
        let scopes: Vec<String> = scopes.iter().map(|scope| (*scope).to_owned()).collect();
        let requested: Vec<String> = requested.iter().map(|claim| (*claim).to_owned()).collect();
        release(&Release {
            citizen,
            client,
            scopes: &scopes,
            requested: &requested,
            subject: "sub-1",
            professional: None,
            acting_for: None,
            today: date!(2026 - 01 - 01),
        })
    }

    #[test]
    fn profile_releases_names_birthdate_and_age() {
        let claims = released(
            &citizen(false),
            &client(&["profile"], false, false),
            &["openid", "profile"],
            &[],
        );
        assert_eq!(claims["name"], "Anna Jensen");
        assert_eq!(claims["birthdate"], "1990-01-01");
        assert_eq!(claims["age"], 36);
        assert!(!claims.contains_key("email"));
        assert!(!claims.contains_key("dk_cpr"));
    }

    #[test]
    fn cpr_goes_only_to_entitled_public_authorities() {
        let all = ["openid", "cpr", "nemlogin"];
        let private = released(
            &citizen(false),
            &client(&["cpr", "nemlogin"], false, false),
            &all,
            &["dk_cpr"],
        );
        assert!(!private.contains_key("dk_cpr"));
        assert_eq!(private["cpr_uuid"], uuid::Uuid::nil().to_string());
        let public = released(&citizen(false), &client(&["cpr"], true, false), &all, &[]);
        assert!(!public.contains_key("dk_cpr"));
        let entitled = released(&citizen(false), &client(&["cpr"], true, true), &all, &[]);
        assert_eq!(entitled["dk_cpr"], "0101901234");
    }

    #[test]
    fn protected_names_are_left_out_for_non_public_clients() {
        let private = released(
            &citizen(true),
            &client(&["profile"], false, false),
            &["profile"],
            &[],
        );
        assert!(!private.contains_key("name"));
        assert!(!private.contains_key("given_name"));
        assert_eq!(private["birthdate"], "1990-01-01");
        let public = released(
            &citizen(true),
            &client(&["profile"], true, false),
            &["profile"],
            &[],
        );
        assert_eq!(public["name"], "Anna Jensen");
    }

    #[test]
    fn a_professional_login_and_a_power_of_attorney_add_their_claims() {
        let citizen = citizen(false);
        let client = client(&["nemlogin", "professional", "privileges"], true, false);
        let scopes = vec![
            "openid".to_owned(),
            "nemlogin".to_owned(),
            "privileges".to_owned(),
        ];
        let professional = ProfessionalIdentity {
            pro_uuid: "p-1".into(),
            cvr: "12345674".into(),
            org_name: "Demo ApS".into(),
            authorized_to_represent: vec!["12345674".into()],
        };
        let acting_for = ActingFor {
            principal_scope: "urn:dk:gov:saml:cvrNumberIdentifier:12345674".into(),
            privileges: vec!["tax.read".into()],
        };
        let claims = release(&Release {
            citizen: &citizen,
            client: &client,
            scopes: &scopes,
            requested: &[],
            subject: "sub-1",
            professional: Some(&professional),
            acting_for: Some(&acting_for),
            today: date!(2026 - 01 - 01),
        });
        assert_eq!(claims["identity_type"], "professional");
        assert_eq!(claims["cvr"], "12345674");
        assert_eq!(claims["pro_uuid"], "p-1");
        assert_eq!(claims["act"], serde_json::json!({ "sub": "sub-1" }));
        assert_eq!(
            claims["privileges"][0]["scope"],
            "urn:dk:gov:saml:cvrNumberIdentifier:12345674"
        );
        // Not a public authority: no privileges, whatever it asks.
        let private = self::client(&["privileges"], false, false);
        let claims = release(&Release {
            client: &private,
            acting_for: Some(&acting_for),
            professional: None,
            citizen: &citizen,
            scopes: &scopes,
            requested: &[],
            subject: "sub-1",
            today: date!(2026 - 01 - 01),
        });
        assert!(!claims.contains_key("privileges") && !claims.contains_key("act"));
    }

    #[test]
    fn the_claims_parameter_adds_single_claims_within_registered_scopes() {
        let request = ClaimsRequest::parse(Some(
            r#"{"id_token": {"email": null, "dk_cpr": {"essential": true}, "unknown": null}}"#,
        ));
        assert_eq!(request.id_token, vec!["dk_cpr", "email"]);
        let requested: Vec<&str> = request.id_token.iter().map(String::as_str).collect();
        let claims = released(
            &citizen(false),
            &client(&["email"], false, false),
            &["openid"],
            &requested,
        );
        assert_eq!(claims["email"], "anna@example.dk");
        assert!(!claims.contains_key("dk_cpr"));
        let unregistered = released(
            &citizen(false),
            &client(&[], false, false),
            &["openid"],
            &requested,
        );
        assert!(unregistered.is_empty());
    }
}
