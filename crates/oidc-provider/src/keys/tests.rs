//! Unit tests of `keys.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::Validation;
use serde_json::json;

const NOW: i64 = 1_750_000_000;
const TOKEN_LIFETIME: i64 = 3_600;
const TIMING: RotationTiming = RotationTiming {
    key_refresh_seconds: 30,
    max_token_lifetime: TOKEN_LIFETIME,
};
const ISSUER: &str = "https://segl.test";
const AUDIENCE: &str = "rp-demo";

fn claims() -> Value {
    // Far-future `exp`: jsonwebtoken checks it against the real clock.
    json!({ "iss": ISSUER, "sub": "citizen-1", "aud": AUDIENCE, "exp": 4_102_444_800_i64 })
}

/// Verifies `token` the way a relying party does: kid from the header, key from the JWK Set
/// through `DecodingKey::from_jwk`, algorithm from the JWK.
fn verify_with_published_jwk(jwks_json: &str, token: &str) -> Value {
    let jwks: JwkSet = serde_json::from_str(jwks_json).expect("the JWKS is an RFC 7517 JWK Set");
    let header = jsonwebtoken::decode_header(token).expect("the token has a JWS header");
    let kid = header.kid.expect("the header names a kid");
    let jwk = jwks.find(&kid).expect("the kid is published");
    let alg = jwk.common.key_algorithm.expect("the JWK names its alg");
    let algorithm: Algorithm = alg.to_string().parse().expect("a JWS algorithm");
    let decoding_key = DecodingKey::from_jwk(jwk).expect("the JWK converts to a key");
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    jsonwebtoken::decode::<Value>(token, &decoding_key, &validation)
        .expect("the signature verifies")
        .claims
}

fn published_kids(jwks_json: &str) -> Vec<String> {
    let jwks: Value = serde_json::from_str(jwks_json).expect("the JWKS is JSON");
    jwks["keys"]
        .as_array()
        .expect("keys is an array")
        .iter()
        .map(|jwk| jwk["kid"].as_str().expect("every JWK has a kid").to_owned())
        .collect()
}

fn entry(alg: SigningAlg, state: KeyState) -> KeyEntry {
    let active_from = (state == KeyState::Active).then_some(NOW - TOKEN_LIFETIME);
    KeyEntry {
        key: SigningKey::generate(alg, NOW).expect("key generation works"),
        state,
        active_from,
    }
}

fn b64_len(value: &Value) -> usize {
    URL_SAFE_NO_PAD
        .decode(value.as_str().expect("a string member"))
        .expect("base64url without padding")
        .len()
}

#[test]
fn every_algorithm_signs_a_jwt_its_published_jwk_verifies() {
    for alg in SigningAlg::ALL {
        let key_set = KeySet::new(vec![entry(alg, KeyState::Active)]).expect("a valid set");
        let key = key_set.active(alg).expect("an active key");
        let token = sign_jwt(key, Some("JWT"), &claims()).expect("signing works");

        let verified = verify_with_published_jwk(&key_set.jwks_json(NOW), &token);

        assert_eq!(verified, claims(), "{alg:?}");
    }
}

#[test]
fn published_jwks_have_the_members_rfc_7518_and_8037_define() {
    for alg in SigningAlg::ALL {
        let key = SigningKey::generate(alg, NOW).expect("key generation works");
        let jwk = key.public_jwk();

        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        match alg {
            SigningAlg::ES256 => {
                assert_eq!((&jwk["kty"], &jwk["crv"]), (&json!("EC"), &json!("P-256")));
                assert_eq!((b64_len(&jwk["x"]), b64_len(&jwk["y"])), (32, 32));
            }
            SigningAlg::RS256 | SigningAlg::PS256 => {
                assert_eq!(jwk["kty"], "RSA");
                let modulus = URL_SAFE_NO_PAD
                    .decode(jwk["n"].as_str().expect("n is a string"))
                    .expect("n is base64url");
                // RFC 7518 6.3.1.1: no leading zero octet; 2048 bits exactly.
                assert_eq!(modulus.len(), 256);
                assert_ne!(modulus[0], 0);
                assert_eq!(jwk["e"], "AQAB");
            }
            SigningAlg::EdDSA => {
                assert_eq!(
                    (&jwk["kty"], &jwk["crv"]),
                    (&json!("OKP"), &json!("Ed25519"))
                );
                assert_eq!(b64_len(&jwk["x"]), 32);
            }
        }
    }
}

#[test]
fn a_key_rebuilt_from_pkcs8_signs_tokens_the_original_jwk_verifies() {
    for alg in SigningAlg::ALL {
        let original = entry(alg, KeyState::Active);
        let original_jwks = KeySet::new(vec![original.clone()])
            .expect("a valid set")
            .jwks_json(NOW);

        let rebuilt = SigningKey::from_pkcs8(
            original.key.kid().to_owned(),
            alg,
            original.key.pkcs8_der().to_vec(),
            original.key.created_at(),
        )
        .expect("stored material parses");
        let token = sign_jwt(&rebuilt, Some("JWT"), &claims()).expect("signing works");

        assert_eq!(verify_with_published_jwk(&original_jwks, &token), claims());
        assert_eq!(rebuilt.public_jwk(), original.key.public_jwk(), "{alg:?}");
    }
}

#[test]
fn stored_material_of_another_algorithm_is_rejected() {
    let ec = SigningKey::generate(SigningAlg::ES256, NOW).expect("key generation works");
    let rsa = SigningKey::generate(SigningAlg::RS256, NOW).expect("key generation works");
    let ed = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");
    let mismatches = [
        (ec.pkcs8_der(), SigningAlg::RS256),
        (ec.pkcs8_der(), SigningAlg::EdDSA),
        (rsa.pkcs8_der(), SigningAlg::ES256),
        (rsa.pkcs8_der(), SigningAlg::EdDSA),
        (ed.pkcs8_der(), SigningAlg::ES256),
        (ed.pkcs8_der(), SigningAlg::PS256),
        (&b"not a key"[..], SigningAlg::ES256),
    ];

    for (der, alg) in mismatches {
        let result = SigningKey::from_pkcs8("kid".to_owned(), alg, der.to_vec(), NOW);
        assert!(
            matches!(result, Err(KeyError::InvalidKeyMaterial { .. })),
            "{alg:?} accepted foreign material"
        );
    }
}

#[test]
fn key_ids_are_random_url_safe_and_128_bits() {
    let first = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");
    let second = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");

    assert_ne!(first.kid(), second.kid());
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(first.kid())
            .expect("base64url")
            .len(),
        KID_BYTES
    );
}

#[test]
fn signed_jwt_header_carries_kid_alg_and_the_requested_typ() {
    let key = SigningKey::generate(SigningAlg::ES256, NOW).expect("key generation works");

    let access_token = sign_jwt(&key, Some("at+jwt"), &claims()).expect("signing works");
    let header = jsonwebtoken::decode_header(&access_token).expect("a JWS header");
    assert_eq!(header.kid.as_deref(), Some(key.kid()));
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    let untyped = sign_jwt(&key, None, &claims()).expect("signing works");
    let header = jsonwebtoken::decode_header(&untyped).expect("a JWS header");
    assert_eq!(header.typ, None);
}

#[test]
fn jwks_never_contains_private_key_members() {
    let entries = SigningAlg::ALL
        .into_iter()
        .map(|alg| entry(alg, KeyState::Active))
        .collect();
    let key_set = KeySet::new(entries).expect("a valid set");
    let jwks: Value = serde_json::from_str(&key_set.jwks_json(NOW)).expect("JSON");
    // RFC 7518 6.2.2, 6.3.2 and 6.4, RFC 8037 2: the private and symmetric members.
    let private_members = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

    let keys = jwks["keys"].as_array().expect("keys is an array");
    assert_eq!(keys.len(), SigningAlg::ALL.len());
    for jwk in keys {
        let members = jwk.as_object().expect("a JWK is an object");
        for member in private_members {
            assert!(!members.contains_key(member), "{member} published in {jwk}");
        }
    }
}

#[test]
fn first_start_creates_one_active_and_one_next_key_per_algorithm() {
    let mut key_set = KeySet::default();
    let plan = plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning works");
    assert!(plan.changes.is_empty());
    key_set.apply(plan).expect("the plan applies");

    for alg in SigningAlg::ALL {
        let states: Vec<KeyState> = key_set
            .entries()
            .iter()
            .filter(|entry| entry.key.alg() == alg)
            .map(|entry| entry.state)
            .collect();
        assert_eq!(states.len(), 2, "{alg:?}");
        assert!(states.contains(&KeyState::Active) && states.contains(&KeyState::Next));
    }
    let again = plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning");
    assert!(again.is_empty(), "a second start changes nothing");
}

#[test]
fn rotation_keeps_the_previous_key_in_the_jwks_until_retire_after() {
    let alg = SigningAlg::ES256;
    let previous = entry(alg, KeyState::Active);
    let next = entry(alg, KeyState::Next);
    let mut key_set = KeySet::new(vec![previous.clone(), next.clone()]).expect("a valid set");
    let old_token = sign_jwt(&previous.key, Some("JWT"), &claims()).expect("signing works");

    let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
    key_set.apply(plan).expect("the plan applies");

    let retire_after = NOW + 30 + CLOCK_SKEW_SECONDS + TOKEN_LIFETIME + CLOCK_SKEW_SECONDS;
    assert_eq!(
        key_set.active(alg).map(SigningKey::kid),
        Some(next.key.kid())
    );
    let jwks_before = key_set.jwks_json(retire_after - 1);
    assert!(published_kids(&jwks_before).contains(&previous.key.kid().to_owned()));
    assert_eq!(
        verify_with_published_jwk(&jwks_before, &old_token),
        claims()
    );
    assert_eq!(key_set.next_jwks_change(NOW), Some(retire_after));

    let jwks_after = key_set.jwks_json(retire_after);
    assert!(!published_kids(&jwks_after).contains(&previous.key.kid().to_owned()));
    assert!(published_kids(&jwks_after).contains(&next.key.kid().to_owned()));
    assert_eq!(key_set.next_jwks_change(retire_after), None);
}

#[test]
fn rotation_timing_covers_the_refresh_interval_the_longest_token_and_clock_skew() {
    let cases = [(30, 600), (2, 120), (0, 0), (3_600, 86_400)];
    for (key_refresh_seconds, max_token_lifetime) in cases {
        let timing = RotationTiming {
            key_refresh_seconds,
            max_token_lifetime,
        };
        let switch_at = timing.switch_at(NOW);
        let retire_after = timing.retire_after(switch_at);

        // Every node has reloaded (one refresh interval) before the new key signs.
        assert_eq!(switch_at, NOW + key_refresh_seconds + CLOCK_SKEW_SECONDS);
        // The finding's bound: rotation + refresh + longest lifetime + a skew margin.
        assert!(
            retire_after >= NOW + key_refresh_seconds + max_token_lifetime + CLOCK_SKEW_SECONDS
        );
        // The last token signed with the old key (just before the switch) expires in time,
        // even on a node whose clock runs CLOCK_SKEW_SECONDS behind.
        assert!(switch_at + CLOCK_SKEW_SECONDS + max_token_lifetime <= retire_after);
        assert_eq!(
            retire_after,
            NOW + key_refresh_seconds + max_token_lifetime + 2 * CLOCK_SKEW_SECONDS
        );
    }
    let nonsense = RotationTiming {
        key_refresh_seconds: -10,
        max_token_lifetime: i64::MAX,
    };
    assert_eq!(nonsense.switch_at(NOW), NOW + CLOCK_SKEW_SECONDS);
    assert_eq!(nonsense.retire_after(NOW), i64::MAX);
}

#[test]
fn the_retiring_key_signs_until_the_switch_and_its_last_token_outlives_no_publication() {
    let alg = SigningAlg::ES256;
    let previous = entry(alg, KeyState::Active);
    let next = entry(alg, KeyState::Next);
    let mut key_set = KeySet::new(vec![previous.clone(), next.clone()]).expect("a valid set");

    let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
    key_set.apply(plan).expect("the plan applies");

    let switch_at = TIMING.switch_at(NOW);
    let signer = |at: i64| key_set.signing_key(alg, at).map(SigningKey::kid);
    assert_eq!(signer(NOW), Some(previous.key.kid()));
    assert_eq!(signer(switch_at - 1), Some(previous.key.kid()));
    assert_eq!(signer(switch_at), Some(next.key.kid()));
    assert_eq!(signer(switch_at + TOKEN_LIFETIME), Some(next.key.kid()));
    // The old key's last token (signed the second before the switch) is published for its
    // whole life; the new key is published from the rotation on, before it signs.
    let last_exp = switch_at - 1 + TOKEN_LIFETIME;
    assert!(published_kids(&key_set.jwks_json(last_exp)).contains(&previous.key.kid().to_owned()));
    assert!(published_kids(&key_set.jwks_json(NOW)).contains(&next.key.kid().to_owned()));
}

#[test]
fn two_quick_rotations_never_sign_with_an_unpublished_key() {
    let alg = SigningAlg::EdDSA;
    let mut key_set = KeySet::default();
    key_set
        .apply(plan_initial_keys(key_set.entries(), &[alg], NOW - TOKEN_LIFETIME).expect("plan"))
        .expect("the plan applies");
    let first = key_set.active(alg).expect("an active key").kid().to_owned();
    // Right after the first rotation, a second one: its new `Next` key was never published
    // before, and the first switch has not come yet.
    for at in [NOW, NOW + 1] {
        let plan = plan_rotation(key_set.entries(), alg, at, TIMING).expect("planning");
        key_set.apply(plan).expect("the plan applies");
    }

    let last_switch = TIMING.switch_at(NOW + 1);
    let mut signers = Vec::new();
    for at in NOW - 1..=last_switch + 1 {
        let kid = key_set
            .signing_key(alg, at)
            .expect("a signing key")
            .kid()
            .to_owned();
        // Published by nodes that have reloaded since the rotation (every node, one
        // refresh interval after it) at the moment it signs and until its token expires.
        for moment in [at, at + TOKEN_LIFETIME - 1] {
            assert!(
                published_kids(&key_set.jwks_json(moment)).contains(&kid),
                "the key signing at {at} is published at {moment}"
            );
        }
        if signers.last() != Some(&kid) {
            signers.push(kid);
        }
    }
    assert_eq!(
        signers.len(),
        3,
        "first key, then each rotation's key in turn"
    );
    assert_eq!(signers[0], first);
    assert_eq!(
        key_set
            .signing_key(alg, TIMING.switch_at(NOW))
            .map(SigningKey::kid),
        Some(signers[1].as_str())
    );
    assert_eq!(
        key_set.signing_key(alg, last_switch).map(SigningKey::kid),
        key_set.active(alg).map(SigningKey::kid)
    );
}

#[test]
fn the_first_key_signs_at_once_and_a_key_without_active_from_still_signs() {
    let mut key_set = KeySet::default();
    let plan = plan_initial_keys(key_set.entries(), &[SigningAlg::RS256], NOW).expect("plan");
    key_set.apply(plan).expect("the plan applies");
    assert_eq!(
        key_set
            .signing_key(SigningAlg::RS256, NOW)
            .map(SigningKey::kid),
        key_set.active(SigningAlg::RS256).map(SigningKey::kid)
    );

    let mut legacy = entry(SigningAlg::PS256, KeyState::Active);
    legacy.active_from = None;
    let key_set = KeySet::new(vec![legacy.clone()]).expect("a valid set");
    assert_eq!(
        key_set
            .signing_key(SigningAlg::PS256, NOW)
            .map(SigningKey::kid),
        Some(legacy.key.kid())
    );
}

#[test]
fn rotation_leaves_exactly_one_active_and_one_next_key_per_algorithm() {
    let mut key_set = KeySet::default();
    let initial = plan_initial_keys(key_set.entries(), &SigningAlg::ALL, NOW).expect("planning");
    key_set.apply(initial).expect("the plan applies");

    for round in 1..=2 {
        let now = NOW + round * 10 * TOKEN_LIFETIME;
        for alg in SigningAlg::ALL {
            let plan = plan_rotation(key_set.entries(), alg, now, TIMING).expect("planning works");
            key_set.apply(plan).expect("the plan applies");
        }
        for alg in SigningAlg::ALL {
            let count = |state: KeyState| {
                key_set
                    .entries()
                    .iter()
                    .filter(|entry| entry.key.alg() == alg && entry.state == state)
                    .count()
            };
            assert_eq!(count(KeyState::Active), 1, "{alg:?} round {round}");
            assert_eq!(count(KeyState::Next), 1, "{alg:?} round {round}");
        }
    }
}

#[test]
fn rotation_deletes_retired_keys_past_retire_after() {
    let alg = SigningAlg::EdDSA;
    let expired = entry(alg, KeyState::Retired { retire_after: NOW });
    let retiring = entry(
        alg,
        KeyState::Retired {
            retire_after: NOW + 1,
        },
    );
    let key_set = KeySet::new(vec![
        expired.clone(),
        retiring,
        entry(alg, KeyState::Active),
        entry(alg, KeyState::Next),
    ])
    .expect("a valid set");

    let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");

    let deleted: Vec<&str> = plan
        .changes
        .iter()
        .filter(|change| matches!(change, KeyChange::Delete { .. }))
        .map(KeyChange::kid)
        .collect();
    assert_eq!(deleted, vec![expired.key.kid()]);
}

#[test]
fn rotation_without_a_next_key_activates_a_fresh_one() {
    let alg = SigningAlg::RS256;
    let previous = entry(alg, KeyState::Active);
    let mut key_set = KeySet::new(vec![previous.clone()]).expect("a valid set");

    let plan = plan_rotation(key_set.entries(), alg, NOW, TIMING).expect("planning");
    key_set.apply(plan).expect("the plan applies");

    let active = key_set.active(alg).expect("an active key");
    assert_ne!(active.kid(), previous.key.kid());
    assert_eq!(key_set.entries().len(), 3);
}

#[test]
fn key_set_rejects_two_active_keys_for_one_algorithm_and_shared_kids() {
    let alg = SigningAlg::ES256;
    let two_active = KeySet::new(vec![
        entry(alg, KeyState::Active),
        entry(alg, KeyState::Active),
    ]);
    assert!(matches!(
        two_active,
        Err(KeyError::SeveralActive(SigningAlg::ES256))
    ));

    let key = entry(alg, KeyState::Active);
    let twin = KeyEntry {
        key: key.key.clone(),
        state: KeyState::Next,
        active_from: None,
    };
    assert!(matches!(
        KeySet::new(vec![key, twin]),
        Err(KeyError::DuplicateKid(_))
    ));
}

#[test]
fn verification_key_finds_our_keys_by_kid_with_their_algorithm() {
    let next = entry(SigningAlg::PS256, KeyState::Next);
    let retired = entry(SigningAlg::ES256, KeyState::Retired { retire_after: NOW });
    let key_set = KeySet::new(vec![next.clone(), retired.clone()]).expect("a valid set");
    let token = sign_jwt(&next.key, Some("JWT"), &claims()).expect("signing works");

    let verification_key = key_set
        .verification_key(next.key.kid())
        .expect("the next key is known");
    assert_eq!(verification_key.algorithm(), Algorithm::PS256);
    let mut validation = Validation::new(verification_key.algorithm());
    validation.set_audience(&[AUDIENCE]);
    let decoded = jsonwebtoken::decode::<Value>(&token, verification_key.decoding_key, &validation);
    assert_eq!(decoded.expect("the signature verifies").claims, claims());

    assert!(key_set.verification_key(retired.key.kid()).is_some());
    assert!(key_set.verification_key("unknown").is_none());
}

#[test]
fn key_state_round_trips_through_its_storage_form() {
    let states = [
        KeyState::Next,
        KeyState::Active,
        KeyState::Retired { retire_after: NOW },
    ];
    for state in states {
        assert_eq!(
            KeyState::parse(state.as_str(), state.retire_after()),
            Some(state)
        );
    }
    assert_eq!(KeyState::parse("retired", None), None);
    assert_eq!(KeyState::parse("active", Some(NOW)), None);
    assert_eq!(KeyState::parse("revoked", None), None);
}

#[test]
fn debug_output_leaves_the_private_key_out() {
    let key = SigningKey::generate(SigningAlg::EdDSA, NOW).expect("key generation works");

    let debug = format!("{key:?}");

    assert!(debug.contains(key.kid()));
    assert!(!debug.contains("pkcs8"));
}
