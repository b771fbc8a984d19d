//! The citizen: identity fields, status, identity assurance, and the rules for each field.

use crate::cpr::NationalId;
use serde::{Deserialize, Serialize};
use std::fmt;
use time::Date;
use uuid::Uuid;

/// The citizen's login name: unique, compared without regard to case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

/// A given or family name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

/// An e-mail address (shape check only; ownership is not proven here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// Why a field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("a user ID has 3 to 64 characters: letters a-z, digits, '.', '_', '-' or '@'")]
    UserId,
    #[error("a {0} must not be empty and has at most 100 characters, without control characters")]
    Name(&'static str),
    #[error("the e-mail address is not valid")]
    Email,
    #[error("unknown status '{0}': use active, suspended or deceased")]
    Status(String),
    #[error("unknown identity assurance level '{0}': use low, substantial or high")]
    Level(String),
}

impl UserId {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
        if !(3..=64).contains(&trimmed.len()) || !trimmed.chars().all(allowed) {
            return Err(FieldError::UserId);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The user ID as the citizen chose it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form stored in the unique index.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "UserId({})", self.0)
    }
}

impl PersonName {
    pub fn parse(input: &str, what: &'static str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > 100
            || trimmed.chars().any(char::is_control)
        {
            return Err(FieldError::Name(what));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Email {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        let valid = trimmed.len() <= 254
            && !trimmed.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(trimmed.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                    && !domain.ends_with('.') && !domain.contains('@'));
        if !valid {
            return Err(FieldError::Email);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Only active citizens can log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CitizenStatus {
    Active,
    Suspended,
    Deceased,
}

impl CitizenStatus {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deceased" => Ok(Self::Deceased),
            other => Err(FieldError::Status(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deceased => "deceased",
        }
    }
}

/// An NSIS assurance level, used both for identity proofing (IAL) and authenticators (AAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssuranceLevel {
    Low,
    Substantial,
    High,
}

impl AssuranceLevel {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "substantial" => Ok(Self::Substantial),
            "high" => Ok(Self::High),
            other => Err(FieldError::Level(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Substantial => "substantial",
            Self::High => "high",
        }
    }
}

/// A citizen as the registry holds it. Carries no secret: credentials stay in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Citizen {
    pub id: Uuid,
    pub cpr: NationalId,
    pub user_id: UserId,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub email: Option<Email>,
    pub status: CitizenStatus,
    /// Identity assurance level of the proofing behind this record.
    pub ial: AssuranceLevel,
    pub has_password: bool,
    pub has_totp: bool,
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Name and address protection: non-public clients do not get the name.
    pub name_protected: bool,
}

impl Citizen {
    pub fn birth_date(&self) -> Date {
        self.cpr.birth_date()
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name.as_str(), self.family_name.as_str())
    }

    pub fn is_active(&self) -> bool {
        self.status == CitizenStatus::Active
    }
}

/// A citizen about to be created, every field already validated.
#[derive(Debug, Clone)]
pub struct NewCitizen {
    pub cpr: NationalId,
    pub user_id: UserId,
    pub given_name: PersonName,
    pub family_name: PersonName,
    pub email: Option<Email>,
}

/// How an administrator or a login names a citizen.
#[derive(Debug, Clone)]
pub enum CitizenLookup {
    Cpr(NationalId),
    UserId(UserId),
}

impl CitizenLookup {
    /// A CPR-shaped input is looked up as a CPR number, anything else as a user ID.
    pub fn parse(input: &str) -> Result<Self, crate::RegistryError> {
        if NationalId::looks_like(input) {
            Ok(Self::Cpr(NationalId::parse(input)?))
        } else {
            Ok(Self::UserId(UserId::parse(input)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_is_compared_without_case() {
        let upper = UserId::parse("Anna.Jensen").expect("valid");
        assert_eq!(upper.as_str(), "Anna.Jensen");
        assert_eq!(upper.key(), "anna.jensen");
    }

    #[test]
    fn user_id_with_space_or_too_short_is_refused() {
        assert_eq!(UserId::parse("an na"), Err(FieldError::UserId));
        assert_eq!(UserId::parse("ab"), Err(FieldError::UserId));
        assert_eq!(UserId::parse(&"a".repeat(65)), Err(FieldError::UserId));
        assert_eq!(UserId::parse("ænne"), Err(FieldError::UserId));
    }

    #[test]
    fn empty_name_is_refused() {
        assert_eq!(
            PersonName::parse("  ", "given name"),
            Err(FieldError::Name("given name"))
        );
        assert!(PersonName::parse("Søren", "given name").is_ok());
    }

    #[test]
    fn email_needs_a_domain() {
        assert!(Email::parse("anna@example.dk").is_ok());
        assert_eq!(Email::parse("anna@"), Err(FieldError::Email));
        assert_eq!(Email::parse("anna"), Err(FieldError::Email));
        assert_eq!(Email::parse("an na@example.dk"), Err(FieldError::Email));
    }

    #[test]
    fn levels_are_ordered() {
        assert!(AssuranceLevel::Low < AssuranceLevel::Substantial);
        assert!(AssuranceLevel::Substantial < AssuranceLevel::High);
    }
}
