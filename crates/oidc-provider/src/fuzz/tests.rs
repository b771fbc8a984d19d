//! Every fuzz body over its committed seeds (`fuzz/seeds/<target>/`). A seed's file name
//! starts with the outcome it must reach (`accepted-`, `redirect-`, `page-`; `refused-`,
//! `malformed-`), so a seed that stops reaching the code it was written for fails here, as
//! does a body that panics on one.

use super::*;
use std::path::PathBuf;

/// A target needs at least this many seeds, so that an emptied folder cannot pass.
const MIN_SEEDS: usize = 12;

/// The seeds of `target` as (file name, bytes), sorted by name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| {
            let path = entry.expect("seed entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .expect("a seed's name is UTF-8")
                .to_owned();
            (name, std::fs::read(&path).expect("seed readable"))
        })
        .collect();
    seeds.sort();
    assert!(
        seeds.len() >= MIN_SEEDS,
        "{} holds {} seeds, fewer than {MIN_SEEDS}",
        folder.display(),
        seeds.len()
    );
    seeds
}

/// Runs `body` over the seeds of `target`; every outcome in `outcomes` must be expected by at
/// least one seed's name and reached by every seed that expects it.
fn check<O: Copy + PartialEq + std::fmt::Debug>(
    target: &str,
    outcomes: &[O],
    name_of: fn(O) -> &'static str,
    body: fn(&[u8]) -> O,
) {
    let mut wrong = Vec::new();
    for outcome in outcomes {
        let prefix = format!("{}-", name_of(*outcome));
        assert!(
            seeds(target)
                .iter()
                .any(|(name, _)| name.starts_with(&prefix)),
            "no {target} seed expects {outcome:?}"
        );
    }
    for (name, data) in seeds(target) {
        let expected = outcomes
            .iter()
            .find(|outcome| name.starts_with(&format!("{}-", name_of(**outcome))))
            .unwrap_or_else(|| panic!("seed {target}/{name} names no outcome"));
        let reached = body(&data);
        if reached != *expected {
            wrong.push(format!(
                "{name}: expected {expected:?}, reached {reached:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{target} seeds:\n{}", wrong.join("\n"));
}

#[test]
fn every_authorize_request_seed_reaches_its_outcome() {
    check(
        "authorize_request",
        &[
            AuthorizeOutcome::Accepted,
            AuthorizeOutcome::Redirect,
            AuthorizeOutcome::Page,
        ],
        AuthorizeOutcome::as_str,
        authorize_request,
    );
}

#[test]
fn every_client_assertion_seed_is_refused_or_malformed_as_named() {
    check(
        "client_assertion",
        &[AssertionOutcome::Refused, AssertionOutcome::Malformed],
        AssertionOutcome::as_str,
        client_assertion,
    );
}
