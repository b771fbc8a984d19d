//! Assurance levels in OIDC: the NSIS `acr` URIs, their synonyms, and how a level is reached
//! (docs/NEMLOGIN.md section 2).

use citizen_registry::AssuranceLevel;

pub(crate) const LOW: &str = "https://data.gov.dk/concept/core/nsis/loa/Low";
pub(crate) const SUBSTANTIAL: &str = "https://data.gov.dk/concept/core/nsis/loa/Substantial";
pub(crate) const HIGH: &str = "https://data.gov.dk/concept/core/nsis/loa/High";

/// What `acr_values_supported` lists: the canonical URIs of the levels a citizen can reach
/// (synonyms are accepted, never emitted). High needs a passkey with user verification and
/// identity proofed at High.
pub(crate) const SUPPORTED: [&str; 3] = [LOW, SUBSTANTIAL, HIGH];

/// With no `acr_values`, Danish brokers default to Substantial.
pub(crate) const DEFAULT_LEVEL: AssuranceLevel = AssuranceLevel::Substantial;

/// The canonical `acr` URI of a level (always the `/loa/` form).
pub(crate) fn acr_uri(level: AssuranceLevel) -> &'static str {
    match level {
        AssuranceLevel::Low => LOW,
        AssuranceLevel::Substantial => SUBSTANTIAL,
        AssuranceLevel::High => HIGH,
    }
}

/// Reads an `acr` value: the NSIS URI with or without `/loa/`, or the eIDAS URI.
pub(crate) fn parse_acr(value: &str) -> Option<AssuranceLevel> {
    let nsis_word = value
        .strip_prefix("https://data.gov.dk/concept/core/nsis/loa/")
        .or_else(|| value.strip_prefix("https://data.gov.dk/concept/core/nsis/"));
    match nsis_word {
        Some("Low") => Some(AssuranceLevel::Low),
        Some("Substantial") => Some(AssuranceLevel::Substantial),
        Some("High") => Some(AssuranceLevel::High),
        Some(_) => None,
        None => match value {
            "http://eidas.europa.eu/LoA/low" => Some(AssuranceLevel::Low),
            "http://eidas.europa.eu/LoA/substantial" => Some(AssuranceLevel::Substantial),
            "http://eidas.europa.eu/LoA/high" => Some(AssuranceLevel::High),
            _ => None,
        },
    }
}

/// An `acr_values` entry Segl does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported acr value '{0}'")]
pub(crate) struct UnknownAcr(pub String);

/// The level a request must reach: the lowest level among `acr_values` (the client accepts any
/// of them), or Substantial when there are none, and never below the client's registered
/// minimum. Values Segl does not know are refused rather than ignored.
pub(crate) fn required_level(
    acr_values: &[String],
    client_minimum: Option<AssuranceLevel>,
) -> Result<AssuranceLevel, UnknownAcr> {
    let mut lowest: Option<AssuranceLevel> = None;
    for value in acr_values {
        let level = parse_acr(value).ok_or_else(|| UnknownAcr(value.clone()))?;
        lowest = Some(lowest.map_or(level, |current| current.min(level)));
    }
    let requested = lowest.unwrap_or(DEFAULT_LEVEL);
    Ok(client_minimum.map_or(requested, |minimum| requested.max(minimum)))
}

/// The authenticator assurance level (AAL) of a set of RFC 8176 `amr` values: a password alone
/// is Low; a password and a one-time code Substantial; a password and a passkey with user
/// verification (`hwk` + `user`) High.
pub(crate) fn authenticator_level(amr: &[String]) -> Option<AssuranceLevel> {
    let has = |value: &str| amr.iter().any(|entry| entry == value);
    if !has("pwd") {
        return None;
    }
    Some(if has("hwk") && has("user") {
        AssuranceLevel::High
    } else if has("otp") {
        AssuranceLevel::Substantial
    } else {
        AssuranceLevel::Low
    })
}

/// docs/NEMLOGIN.md section 2: the level reached is the lowest of identity proofing and authenticator.
pub(crate) fn level_reached(ial: AssuranceLevel, aal: AssuranceLevel) -> AssuranceLevel {
    ial.min(aal)
}

/// A second factor the login can ask for after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    /// A TOTP code (`otp`): reaches Substantial.
    OneTimeCode,
    /// A passkey with user verification (`hwk`, `user`): reaches High.
    Passkey,
}

impl SecondFactor {
    /// The RFC 8176 `amr` values this factor adds.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::OneTimeCode => &["otp"],
            Self::Passkey => &["hwk", "user"],
        }
    }
}

/// Which factor to ask for to reach `needed` after a password, given what the citizen has
/// enrolled: High needs a passkey; Substantial takes the authenticator app first, else a passkey
/// (which is stronger than needed). None: the level cannot be reached.
pub(crate) fn second_factor(
    needed: AssuranceLevel,
    has_totp: bool,
    has_passkey: bool,
) -> Option<SecondFactor> {
    match needed {
        AssuranceLevel::Low => None,
        AssuranceLevel::Substantial if has_totp => Some(SecondFactor::OneTimeCode),
        AssuranceLevel::Substantial | AssuranceLevel::High if has_passkey => {
            Some(SecondFactor::Passkey)
        }
        AssuranceLevel::Substantial | AssuranceLevel::High => None,
    }
}

/// Adds a factor to `amr`, keeping `mfa` present whenever two or more factors were used.
pub(crate) fn add_factor(amr: &mut Vec<String>, factors: &[&str]) {
    for factor in factors {
        if !amr.iter().any(|entry| entry == factor) {
            amr.push((*factor).to_owned());
        }
    }
    let factor_count = amr
        .iter()
        .filter(|entry| matches!(entry.as_str(), "pwd" | "otp" | "hwk"))
        .count();
    if factor_count >= 2 && !amr.iter().any(|entry| entry == "mfa") {
        amr.push("mfa".to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(list: &[&str]) -> Vec<String> {
        list.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn synonyms_map_to_the_same_level() {
        for value in [
            "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            "https://data.gov.dk/concept/core/nsis/Substantial",
            "http://eidas.europa.eu/LoA/substantial",
        ] {
            assert_eq!(
                parse_acr(value),
                Some(AssuranceLevel::Substantial),
                "{value}"
            );
        }
        assert_eq!(
            parse_acr("https://data.gov.dk/concept/core/nsis/loa/Medium"),
            None
        );
    }

    #[test]
    fn no_acr_values_means_substantial() {
        assert_eq!(required_level(&[], None), Ok(AssuranceLevel::Substantial));
    }

    #[test]
    fn the_client_minimum_cannot_be_lowered() {
        assert_eq!(
            required_level(&values(&[LOW]), Some(AssuranceLevel::Substantial)),
            Ok(AssuranceLevel::Substantial)
        );
        assert_eq!(
            required_level(&values(&[HIGH]), Some(AssuranceLevel::Substantial)),
            Ok(AssuranceLevel::High)
        );
        assert_eq!(
            required_level(&values(&[LOW]), None),
            Ok(AssuranceLevel::Low)
        );
    }

    #[test]
    fn unknown_acr_values_are_refused() {
        assert_eq!(
            required_level(&values(&["urn:x"]), None),
            Err(UnknownAcr("urn:x".into()))
        );
    }

    #[test]
    fn canonical_uri_has_loa() {
        assert_eq!(
            acr_uri(AssuranceLevel::High),
            "https://data.gov.dk/concept/core/nsis/loa/High"
        );
    }

    #[test]
    fn high_needs_a_passkey_and_substantial_prefers_the_app() {
        use AssuranceLevel::{High, Substantial};
        assert_eq!(second_factor(High, true, false), None);
        assert_eq!(second_factor(High, true, true), Some(SecondFactor::Passkey));
        assert_eq!(
            second_factor(Substantial, true, true),
            Some(SecondFactor::OneTimeCode)
        );
        assert_eq!(
            second_factor(Substantial, false, true),
            Some(SecondFactor::Passkey)
        );
        assert_eq!(second_factor(Substantial, false, false), None);
    }

    #[test]
    fn high_is_advertised() {
        assert!(SUPPORTED.contains(&HIGH));
    }

    #[test]
    fn factors_give_levels_and_mfa() {
        let mut amr = values(&["pwd"]);
        assert_eq!(authenticator_level(&amr), Some(AssuranceLevel::Low));
        add_factor(&mut amr, &["otp"]);
        assert_eq!(amr, values(&["pwd", "otp", "mfa"]));
        assert_eq!(authenticator_level(&amr), Some(AssuranceLevel::Substantial));
        add_factor(&mut amr, &["hwk", "user"]);
        assert_eq!(authenticator_level(&amr), Some(AssuranceLevel::High));
        assert_eq!(
            level_reached(AssuranceLevel::Substantial, AssuranceLevel::High),
            AssuranceLevel::Substantial
        );
    }
}
