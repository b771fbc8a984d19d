//! Organisations (CVR numbers), citizens' professional identities at them, and powers of
//! attorney (docs/NEMLOGIN.md section 3). Plain types and rules; the store keeps them.

use crate::cpr::NationalId;
use std::fmt;
use uuid::Uuid;

/// A CVR number: exactly 8 digits passing the CVR modulus-11 check (weights 2,7,6,5,4,3,2,1).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cvr(String);

/// An organisation's registered name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationName(String);

/// A privilege name in a power of attorney.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Privilege(String);

/// Why an organisation, employment or power of attorney was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrganisationError {
    #[error("a CVR number has exactly 8 digits")]
    CvrShape,
    #[error("the CVR number fails the modulus-11 check")]
    CvrChecksum,
    #[error("an organisation name must not be empty and has at most 200 characters")]
    Name,
    #[error("a privilege has 1 to 100 characters: letters, digits, '.', '_', ':', '/' or '-'")]
    Privilege,
    #[error("a power of attorney needs at least one privilege")]
    NoPrivileges,
    #[error("a power of attorney must end after it starts")]
    Period,
    #[error("a power of attorney names exactly one principal: a CPR number or a CVR number")]
    Principal,
}

const CVR_WEIGHTS: [u32; 8] = [2, 7, 6, 5, 4, 3, 2, 1];

impl Cvr {
    pub fn parse(input: &str) -> Result<Self, OrganisationError> {
        let trimmed = input.trim();
        if trimmed.len() != 8 || !trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(OrganisationError::CvrShape);
        }
        let sum: u32 = trimmed
            .bytes()
            .zip(CVR_WEIGHTS)
            .map(|(digit, weight)| u32::from(digit - b'0') * weight)
            .sum();
        if sum % 11 != 0 {
            return Err(OrganisationError::CvrChecksum);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Cvr {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A CVR number is public business data, unlike a CPR number.
        write!(formatter, "Cvr({})", self.0)
    }
}

impl OrganisationName {
    pub fn parse(input: &str) -> Result<Self, OrganisationError> {
        let trimmed = input.trim();
        if trimmed.is_empty()
            || trimmed.chars().count() > 200
            || trimmed.chars().any(char::is_control)
        {
            return Err(OrganisationError::Name);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Privilege {
    pub fn parse(input: &str) -> Result<Self, OrganisationError> {
        let trimmed = input.trim();
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-');
        if !(1..=100).contains(&trimmed.len()) || !trimmed.chars().all(allowed) {
            return Err(OrganisationError::Privilege);
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub cvr: Cvr,
    pub name: OrganisationName,
}

/// A citizen's professional identity at an organisation; `pro_uuid` never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employment {
    pub pro_uuid: Uuid,
    pub citizen_id: Uuid,
    pub organisation: Organisation,
    /// May represent the organisation (`authorized_to_represent` lists its CVR number).
    pub authorized_to_represent: bool,
}

/// Whom a power of attorney is for.
#[derive(Clone, PartialEq, Eq)]
pub enum Principal {
    Citizen(NationalId),
    Organisation(Cvr),
}

impl fmt::Debug for Principal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Citizen(_) => write!(formatter, "Principal::Citizen(<redacted>)"),
            Self::Organisation(cvr) => write!(formatter, "Principal::Organisation({cvr:?})"),
        }
    }
}

impl Principal {
    /// `cpr` or `cvr`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Citizen(_) => "cpr",
            Self::Organisation(_) => "cvr",
        }
    }

    /// The identifier, as stored (a CPR number is only ever shown to entitled parties).
    pub fn identifier(&self) -> &str {
        match self {
            Self::Citizen(cpr) => cpr.digits(),
            Self::Organisation(cvr) => cvr.as_str(),
        }
    }

    /// The OIO-SAML scope of privileges held for this principal.
    pub fn scope_urn(&self) -> String {
        match self {
            Self::Citizen(cpr) => format!("urn:dk:gov:saml:cprNumberIdentifier:{}", cpr.digits()),
            Self::Organisation(cvr) => {
                format!("urn:dk:gov:saml:cvrNumberIdentifier:{}", cvr.as_str())
            }
        }
    }

    /// A label safe for pages and audit details: a CVR number, or a CPR-number principal by
    /// its birth date only.
    pub fn label(&self) -> String {
        match self {
            Self::Citizen(cpr) => format!("citizen born {}", cpr.birth_date()),
            Self::Organisation(cvr) => format!("CVR {}", cvr.as_str()),
        }
    }
}

/// A power of attorney ("fuldmagt"): the agent may act for the principal with the privileges,
/// from `valid_from` until (not including) `valid_until`, unless revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerOfAttorney {
    pub id: Uuid,
    pub agent_id: Uuid,
    pub principal: Principal,
    pub privileges: Vec<Privilege>,
    pub valid_from: i64,
    pub valid_until: i64,
    pub revoked_at: Option<i64>,
}

impl PowerOfAttorney {
    /// Only an unrevoked power of attorney within its period can be used.
    pub fn is_usable(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.valid_from <= now && now < self.valid_until
    }
}

/// Checks a grant's privileges and period before anything is written.
pub(crate) fn check_grant(
    privileges: &[Privilege],
    valid_from: i64,
    valid_until: i64,
) -> Result<(), OrganisationError> {
    if privileges.is_empty() {
        return Err(OrganisationError::NoPrivileges);
    }
    if valid_until <= valid_from {
        return Err(OrganisationError::Period);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvr_needs_eight_digits_and_the_modulus_11_check() {
        // 2*1+7*2+6*3+5*4+4*5+3*6+2*7+1*8 = 2+14+18+20+20+18+14+8 = 114: not a multiple of 11.
        assert_eq!(Cvr::parse("12345678"), Err(OrganisationError::CvrChecksum));
        // 2*1+7*2+6*3+5*4+4*5+3*6+2*7+1*k = 106 + k; k = 4 makes 110.
        assert_eq!(Cvr::parse("12345674").expect("valid").as_str(), "12345674");
        assert_eq!(Cvr::parse("1234567"), Err(OrganisationError::CvrShape));
        assert_eq!(Cvr::parse("123456789"), Err(OrganisationError::CvrShape));
        assert_eq!(Cvr::parse("1234567a"), Err(OrganisationError::CvrShape));
    }

    #[test]
    fn a_power_of_attorney_is_usable_only_in_its_period_and_unrevoked() {
        let mut poa = PowerOfAttorney {
            id: Uuid::nil(),
            agent_id: Uuid::nil(),
            principal: Principal::Organisation(Cvr::parse("12345674").expect("cvr")),
            privileges: vec![Privilege::parse("tax.read").expect("privilege")],
            valid_from: 100,
            valid_until: 200,
            revoked_at: None,
        };
        assert!(!poa.is_usable(99));
        assert!(poa.is_usable(100));
        assert!(!poa.is_usable(200));
        poa.revoked_at = Some(150);
        assert!(!poa.is_usable(120));
    }

    #[test]
    fn principals_are_scoped_and_cpr_numbers_redacted_in_debug() {
        let cpr = NationalId::parse("0101901234").expect("cpr");
        let principal = Principal::Citizen(cpr);
        assert_eq!(
            principal.scope_urn(),
            "urn:dk:gov:saml:cprNumberIdentifier:0101901234"
        );
        assert!(!format!("{principal:?}").contains("0101901234"));
        assert!(!principal.label().contains("0101901234"));
    }

    #[test]
    fn a_grant_needs_privileges_and_a_period() {
        let privileges = vec![Privilege::parse("a").expect("privilege")];
        assert_eq!(check_grant(&[], 0, 1), Err(OrganisationError::NoPrivileges));
        assert_eq!(
            check_grant(&privileges, 5, 5),
            Err(OrganisationError::Period)
        );
        assert!(check_grant(&privileges, 5, 6).is_ok());
        assert_eq!(Privilege::parse("a b"), Err(OrganisationError::Privilege));
    }
}
