//! The fixed words of the command line (statuses, levels, algorithms, methods) as clap
//! `ValueEnum`s over the domain types, with the CLI's own one-line error for any other word.

use citizen_registry::{AssuranceLevel, CitizenStatus};
use clap::builder::{PossibleValue, TypedValueParser};
use clap::ValueEnum;
use oidc_provider::client::{ClientAuthMethod, SigningAlg, SubjectType};
use std::marker::PhantomData;

/// A word outside the list. `main` prints it as the CLI's one-line error and exits with 1,
/// as when the domain parsers read these words after clap; clap's own usage errors keep 2.
#[derive(Debug, thiserror::Error)]
#[error("unknown {what} '{input}': use {choices}")]
pub(crate) struct UnknownWord {
    what: &'static str,
    input: String,
    choices: String,
}

/// How a word is compared with the list.
#[derive(Debug, Clone, Copy)]
pub(super) enum Matching {
    /// Character for character: protocol identifiers (`ES256`, `client_secret_basic`).
    Exact,
    /// Trimmed and in any case, as the registry's own parsers read statuses and levels; an
    /// error quotes the word trimmed and in lower case, as they do.
    Lenient,
}

/// clap's parser for a `ValueEnum` word: lists the words in `--help` and refuses any other
/// with an [`UnknownWord`] (the source of clap's value-validation error).
#[derive(Debug)]
pub(super) struct Words<E> {
    what: &'static str,
    matching: Matching,
    word: PhantomData<fn() -> E>,
}

// By hand: a derive would ask `E: Clone`, which the marker does not need.
impl<E> Clone for Words<E> {
    fn clone(&self) -> Self {
        Self {
            what: self.what,
            matching: self.matching,
            word: PhantomData,
        }
    }
}

/// The parser for words of type `E`; `what` names them in the error ("unknown {what} ...").
pub(super) fn words<E: ValueEnum>(what: &'static str, matching: Matching) -> Words<E> {
    Words {
        what,
        matching,
        word: PhantomData,
    }
}

impl<E: ValueEnum + Clone + Send + Sync + 'static> TypedValueParser for Words<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<E, clap::Error> {
        let (what, matching) = (self.what, self.matching);
        // clap wraps a closure's error as the source of a value-validation error.
        let parse = move |input: &str| parse_word::<E>(input, what, matching);
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

fn parse_word<E: ValueEnum>(
    input: &str,
    what: &'static str,
    matching: Matching,
) -> Result<E, UnknownWord> {
    let word = match matching {
        Matching::Exact => input.to_owned(),
        Matching::Lenient => input.trim().to_ascii_lowercase(),
    };
    E::from_str(&word, false).map_err(|_| UnknownWord {
        what,
        input: word,
        choices: choices::<E>(),
    })
}

/// "a, b or c".
fn choices<E: ValueEnum>() -> String {
    let names: Vec<String> = E::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .map(|value| value.get_name().to_owned())
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A `ValueEnum` over a domain enum, its words taken from the domain's `as_str` so that the
/// two cannot drift apart (the library crates do not depend on clap).
macro_rules! value_enum {
    ($(#[$doc:meta])* $name:ident($domain:ty) = [$($variant:expr),+ $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub(crate) struct $name(pub(crate) $domain);

        impl ValueEnum for $name {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($name($variant)),+]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.0.as_str()))
            }
        }
    };
}

value_enum! {
    /// A citizen's status (`citizen set-status`).
    Status(CitizenStatus) = [CitizenStatus::Active, CitizenStatus::Suspended, CitizenStatus::Deceased]
}

value_enum! {
    /// An NSIS assurance level (`citizen set-ial`).
    Level(AssuranceLevel) = [AssuranceLevel::Low, AssuranceLevel::Substantial, AssuranceLevel::High]
}

value_enum! {
    /// A JWS algorithm Segl signs with (`keys rotate --alg`, `client add --id-token-alg`).
    Alg(SigningAlg) = [SigningAlg::ES256, SigningAlg::RS256, SigningAlg::PS256, SigningAlg::EdDSA]
}

value_enum! {
    /// A client authentication method (`client add --auth-method`).
    AuthMethod(ClientAuthMethod) = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
        ClientAuthMethod::None,
    ]
}

value_enum! {
    /// A subject identifier type (`client add --subject-type`).
    Subject(SubjectType) = [SubjectType::Pairwise, SubjectType::Public]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_as_the_registry_reads_them() {
        let status: Status = parse_word(" Suspended\n", "status", Matching::Lenient).unwrap();
        assert_eq!(status.0, CitizenStatus::Suspended);
        let error = parse_word::<Status>(" Asleep ", "status", Matching::Lenient).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown status 'asleep': use active, suspended or deceased"
        );
    }

    #[test]
    fn algorithms_match_exactly() {
        let alg: Alg = parse_word("EdDSA", "algorithm", Matching::Exact).unwrap();
        assert_eq!(alg.0, SigningAlg::EdDSA);
        let error = parse_word::<Alg>("es256", "algorithm", Matching::Exact).unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown algorithm 'es256': use ES256, RS256, PS256 or EdDSA"
        );
    }

    #[test]
    fn the_words_are_the_domain_parsers_words() {
        for status in Status::value_variants() {
            assert_eq!(CitizenStatus::parse(status.0.as_str()).ok(), Some(status.0));
        }
        for level in Level::value_variants() {
            assert_eq!(AssuranceLevel::parse(level.0.as_str()).ok(), Some(level.0));
        }
        for alg in Alg::value_variants() {
            assert_eq!(SigningAlg::parse(alg.0.as_str()), Some(alg.0));
        }
        assert_eq!(Alg::value_variants().len(), SigningAlg::ALL.len());
        for method in AuthMethod::value_variants() {
            assert_eq!(ClientAuthMethod::parse(method.0.as_str()), Some(method.0));
        }
        for subject in Subject::value_variants() {
            assert_eq!(SubjectType::parse(subject.0.as_str()), Some(subject.0));
        }
    }
}
