//! The audit log as the registry's callers see it: a citizen's history, the chain head, and
//! verification of the whole chain.

use super::{Registry, RegistryError};
use crate::audit::{self, ChainedEvent};
use uuid::Uuid;

impl Registry {
    /// A citizen's latest audit events, newest first.
    pub async fn history(
        &self,
        citizen_id: Uuid,
        limit: i64,
    ) -> Result<Vec<ChainedEvent>, RegistryError> {
        Ok(self.store.find_audit_events_for(citizen_id, limit).await?)
    }

    /// The audit chain head `(seq, hash)`: record it elsewhere to check later, with
    /// [`Registry::verify_audit_chain`], that the log still reaches it.
    pub async fn audit_head(&self) -> Result<audit::Anchor, RegistryError> {
        let (seq, hash) = self.store.find_audit_head().await?;
        Ok(audit::Anchor { seq, hash })
    }

    /// Verifies the whole audit chain, page by page: every event's hash, every link, the
    /// sequence without gaps, that the log ends at the head row, and, if given, that the event
    /// an earlier head named is still there with the same hash. Returns the number of events
    /// checked.
    pub async fn verify_audit_chain(
        &self,
        expected: Option<&audit::Anchor>,
    ) -> Result<Result<u64, audit::ChainError>, RegistryError> {
        let mut checked = 0u64;
        let mut after = 0i64;
        let mut previous: Option<ChainedEvent> = None;
        loop {
            let page = self.store.find_audit_events(after, 5000).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let mut window = Vec::with_capacity(page.len() + 1);
            window.extend(previous.take());
            window.extend(page);
            if let Err(error) = audit::verify(&window) {
                return Ok(Err(error));
            }
            checked += (window.len() - usize::from(checked > 0)) as u64;
            after = last.seq;
            previous = Some(last);
        }
        let (head_seq, head_hash) = self.store.find_audit_head().await?;
        let last_seq = previous.as_ref().map_or(0, |last| last.seq);
        if last_seq < head_seq {
            return Ok(Err(audit::ChainError::TailMissing {
                head: head_seq,
                last: last_seq,
            }));
        }
        if let Some(last) = previous {
            if last.seq != head_seq || last.hash != head_hash {
                return Ok(Err(audit::ChainError::Broken { seq: head_seq }));
            }
        }
        if let Some(anchor) = expected {
            let found = self.store.find_audit_events(anchor.seq - 1, 1).await?;
            match found.first() {
                Some(event) if event.seq == anchor.seq => {
                    if event.hash != anchor.hash {
                        return Ok(Err(audit::ChainError::AnchorMismatch { seq: anchor.seq }));
                    }
                }
                _ => return Ok(Err(audit::ChainError::AnchorMissing { seq: anchor.seq })),
            }
        }
        Ok(Ok(checked))
    }
}
