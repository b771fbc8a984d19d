//! NSIS assurance levels (docs/NEMLOGIN.md section 2): parsing `acr` values and comparing them.

/// The three NSIS levels, ordered: `Low < Substantial < High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Low,
    Substantial,
    High,
}

/// URI prefixes under which a level name is accepted in an `acr` value: the NSIS form Segl
/// emits, the older NSIS form without `/loa/`, and the eIDAS synonyms.
const ACCEPTED_PREFIXES: [&str; 3] = [
    "https://data.gov.dk/concept/core/nsis/loa/",
    "https://data.gov.dk/concept/core/nsis/",
    "http://eidas.europa.eu/LoA/",
];

impl Level {
    pub const ALL: [Level; 3] = [Level::Low, Level::Substantial, Level::High];

    /// The URI to send in `acr_values` (always the `/loa/` form).
    pub fn uri(self) -> &'static str {
        match self {
            Self::Low => "https://data.gov.dk/concept/core/nsis/loa/Low",
            Self::Substantial => "https://data.gov.dk/concept/core/nsis/loa/Substantial",
            Self::High => "https://data.gov.dk/concept/core/nsis/loa/High",
        }
    }

    /// The bare word, as in `?level=` and in the `loa` claim.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Substantial => "substantial",
            Self::High => "high",
        }
    }

    /// The name shown on pages.
    pub fn label(self) -> &'static str {
        match self {
            Self::Low => "Low (Lav)",
            Self::Substantial => "Substantial (Betydelig)",
            Self::High => "High (Høj)",
        }
    }

    /// Reads an `acr` value: a known prefix followed by the level name (case-insensitive).
    /// Anything else, including an unknown prefix, is not a level this portal understands.
    pub fn parse(acr: &str) -> Option<Self> {
        ACCEPTED_PREFIXES.iter().find_map(|prefix| {
            let suffix = acr
                .get(..prefix.len())
                .filter(|head| head.eq_ignore_ascii_case(prefix))
                .and_then(|_| acr.get(prefix.len()..))?;
            Self::parse_name(suffix)
        })
    }

    /// Reads the bare word of `?level=` (`low`, `substantial`, `high`).
    pub fn parse_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name))
    }

    /// Whether a login at `self` is good enough for a page that needs `required`.
    pub fn satisfies(self, required: Level) -> bool {
        self >= required
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_low_substantial_high() {
        assert!(Level::Low < Level::Substantial);
        assert!(Level::Substantial < Level::High);
        assert!(Level::High.satisfies(Level::Substantial));
        assert!(Level::Substantial.satisfies(Level::Substantial));
        assert!(!Level::Low.satisfies(Level::Substantial));
        assert!(!Level::Substantial.satisfies(Level::High));
    }

    #[test]
    fn the_loa_uris_round_trip() {
        for level in Level::ALL {
            assert_eq!(Level::parse(level.uri()), Some(level));
        }
    }

    #[test]
    fn synonyms_are_understood() {
        assert_eq!(
            Level::parse("https://data.gov.dk/concept/core/nsis/Substantial"),
            Some(Level::Substantial)
        );
        assert_eq!(
            Level::parse("http://eidas.europa.eu/LoA/high"),
            Some(Level::High)
        );
        assert_eq!(
            Level::parse("http://eidas.europa.eu/LoA/low"),
            Some(Level::Low)
        );
    }

    #[test]
    fn unknown_acr_values_are_not_levels() {
        assert_eq!(Level::parse("https://evil.example/High"), None);
        assert_eq!(Level::parse("High"), None);
        assert_eq!(
            Level::parse("https://data.gov.dk/concept/core/nsis/loa/Highest"),
            None
        );
        assert_eq!(Level::parse(""), None);
    }

    #[test]
    fn level_query_words_are_case_insensitive() {
        assert_eq!(Level::parse_name("Substantial"), Some(Level::Substantial));
        assert_eq!(Level::parse_name("low"), Some(Level::Low));
        assert_eq!(Level::parse_name("medium"), None);
    }
}
