//! The audit log: identity events in an append-only hash chain that makes tampering evident.

use aws_lc_rs::digest::{digest, SHA256};
use serde::Serialize;
use uuid::Uuid;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Event kinds recorded by the registry. Other crates (the provider) add their own kinds.
pub mod kind {
    pub const CITIZEN_CREATED: &str = "citizen.created";
    pub const STATUS_CHANGED: &str = "citizen.status_changed";
    pub const IAL_CHANGED: &str = "citizen.ial_changed";
    pub const PASSWORD_SET: &str = "credential.password_set";
    pub const TOTP_ENROLLED: &str = "credential.totp_enrolled";
    pub const PASSKEY_REGISTERED: &str = "credential.passkey_registered";
    pub const PASSKEY_REGISTRATION_FAILED: &str = "credential.passkey_registration_failed";
    pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
    pub const LOGIN_FAILED: &str = "login.failed";
    pub const FACTOR_SUCCEEDED: &str = "factor.succeeded";
    pub const FACTOR_FAILED: &str = "factor.failed";
    pub const NAME_PROTECTION_CHANGED: &str = "citizen.name_protection_changed";
    pub const ORGANISATION_ADDED: &str = "organisation.added";
    pub const EMPLOYMENT_ADDED: &str = "professional.employed";
    pub const POA_GRANTED: &str = "poa.granted";
    pub const POA_REVOKED: &str = "poa.revoked";
}

/// One event before it is chained. `detail` never holds a secret or a CPR number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: i64,
    pub kind: String,
    pub citizen_id: Option<Uuid>,
    /// Who acted: `admin`, `citizen`, `system`, or `client:<id>`.
    pub actor: String,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// The assurance level involved, where there is one.
    pub level: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(kind: &str, citizen_id: Option<Uuid>, actor: &str, at: i64) -> Self {
        Self {
            id: Uuid::new_v4(),
            at,
            kind: kind.to_owned(),
            citizen_id,
            actor: actor.to_owned(),
            client_id: None,
            ip: None,
            level: None,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn with_level(mut self, level: &str) -> Self {
        self.level = Some(level.to_owned());
        self
    }

    pub fn with_client(mut self, client_id: &str) -> Self {
        self.client_id = Some(client_id.to_owned());
        self
    }

    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

/// An event as stored: its place in the chain and the hashes linking it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainedEvent {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Serialize)]
struct HashInput<'a> {
    seq: i64,
    event: &'a AuditEvent,
    prev_hash: &'a str,
}

/// SHA-256 over the canonical JSON of (seq, event, prev_hash). serde_json writes struct fields in
/// declaration order and `detail` objects in sorted key order, so the encoding is stable.
pub fn chain_hash(seq: i64, event: &AuditEvent, prev_hash: &str) -> String {
    let input = HashInput {
        seq,
        event,
        prev_hash,
    };
    let encoded = serde_json::to_vec(&input).unwrap_or_default();
    hex::encode(digest(&SHA256, &encoded).as_ref())
}

/// Links `events` after the chain head (`head_seq`, `head_hash`).
pub fn chain(events: Vec<AuditEvent>, head_seq: i64, head_hash: &str) -> Vec<ChainedEvent> {
    let mut prev_hash = head_hash.to_owned();
    events
        .into_iter()
        .enumerate()
        .map(|(offset, event)| {
            let seq = head_seq + 1 + offset as i64;
            let hash = chain_hash(seq, &event, &prev_hash);
            ChainedEvent {
                seq,
                event,
                prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
            }
        })
        .collect()
}

/// Where a chain check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit event {seq} does not match its hash: it was altered")]
    Altered { seq: i64 },
    #[error("audit event {seq} does not follow the event before it: the chain is broken")]
    Broken { seq: i64 },
    #[error("the audit head is at event {head} but the log ends at event {last}: events are missing at the end")]
    TailMissing { head: i64, last: i64 },
    #[error("audit event {seq} named by the expected head is missing: the log lost its tail")]
    AnchorMissing { seq: i64 },
    #[error("audit event {seq} does not have the expected hash: the log was replaced")]
    AnchorMismatch { seq: i64 },
}

/// A chain head recorded outside the database (`segl audit head`), to check later that the log
/// still reaches it. A suffix lost together with the head row (a crash or restore that drops
/// the last transactions) leaves a chain that is consistent in itself: only a head kept
/// elsewhere can show that it once went further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    /// `SEQ:HASH`, as `segl audit head` prints it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("'{text}' is not SEQ:HASH (as `segl audit head` prints it)");
        let (seq, hash) = text.trim().split_once(':').ok_or_else(invalid)?;
        let seq: i64 = seq.parse().map_err(|_| invalid())?;
        let hash_is_sha256 = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
        if seq < 1 || !hash_is_sha256 {
            return Err(invalid());
        }
        Ok(Anchor {
            seq,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

/// Checks a run of consecutive events. The first event's `prev_hash` is trusted (events older
/// than the retention period may have been purged).
pub fn verify(events: &[ChainedEvent]) -> Result<(), ChainError> {
    let mut expected_prev: Option<(&str, i64)> = None;
    for chained in events {
        if let Some((expected, previous_seq)) = expected_prev {
            if chained.prev_hash != expected || chained.seq != previous_seq + 1 {
                return Err(ChainError::Broken { seq: chained.seq });
            }
        }
        if chain_hash(chained.seq, &chained.event, &chained.prev_hash) != chained.hash {
            return Err(ChainError::Altered { seq: chained.seq });
        }
        expected_prev = Some((&chained.hash, chained.seq));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(count: usize) -> Vec<ChainedEvent> {
        let raw = (0..count)
            .map(|index| AuditEvent::new(kind::LOGIN_FAILED, None, "citizen", index as i64))
            .collect();
        chain(raw, 0, GENESIS_HASH)
    }

    #[test]
    fn a_fresh_chain_verifies() {
        let chained = events(3);
        assert_eq!(chained[0].prev_hash, GENESIS_HASH);
        assert_eq!(chained[1].prev_hash, chained[0].hash);
        assert_eq!(verify(&chained), Ok(()));
    }

    #[test]
    fn a_gap_in_the_sequence_is_detected() {
        let mut chained = events(3);
        chained.remove(1);
        assert_eq!(verify(&chained), Err(ChainError::Broken { seq: 3 }));
    }

    #[test]
    fn an_anchor_is_seq_and_sha256() {
        let hash = "ab".repeat(32);
        assert_eq!(
            format!("7:{hash}").parse::<Anchor>(),
            Ok(Anchor {
                seq: 7,
                hash: hash.clone()
            })
        );
        for bad in [
            "7",
            "x:ab",
            "0:ab",
            &format!("7:{}", "g".repeat(64)),
            "7:abcd",
        ] {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_altered_event_is_detected() {
        let mut chained = events(3);
        chained[1].event.actor = "admin".to_owned();
        assert_eq!(verify(&chained), Err(ChainError::Altered { seq: 2 }));
    }

    #[test]
    fn a_removed_event_is_detected() {
        let mut chained = events(3);
        chained.remove(1);
        assert_eq!(verify(&chained), Err(ChainError::Broken { seq: 3 }));
    }
}
