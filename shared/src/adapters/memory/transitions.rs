//! Every other move along the status machine, as DynamoDB's conditional writes make them.

use alloy::primitives::B256;
use time::OffsetDateTime;

use super::{MemoryStore, conflict_unless, log, unsigned};
use crate::domain::{Event, HistoryEntry, Inclusion, SignedTx, Status, TxId};
use crate::ports::{AdminRetry, RetryRecord, StoreError, Transitions};

impl Transitions for MemoryStore {
    async fn record_broadcast(&self, id: TxId) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Broadcast,
            Some(&[Status::Signed, Status::Retrying]),
            |s| s.tx.signed.is_some(),
            |s| {
                s.tx.next_attempt_at = None;
                log(s, HistoryEntry::now(Event::Broadcast));
            },
        )
    }

    async fn record_replacement(
        &self,
        id: TxId,
        old: B256,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let applied = self.apply(
            id,
            |s| {
                matches!(
                    s.tx.status,
                    Status::Signed | Status::Broadcast | Status::Retrying
                ) && s
                    .tx
                    .signed
                    .as_ref()
                    .is_some_and(|current| current.hash == old)
                    && s.tx.nonce == Some(signed.nonce)
            },
            |s| {
                s.tx.signed = Some(signed.clone());
                s.tx.from = Some(signed.from);
                log(s, HistoryEntry::replaced(old, signed));
            },
        );
        conflict_unless(applied, id, Status::Broadcast)
    }

    async fn record_inclusion(
        &self,
        id: TxId,
        inclusion: Inclusion,
        hash: B256,
    ) -> Result<(), StoreError> {
        let (to, event) = if inclusion.succeeded {
            (Status::Confirmed, Event::Confirmed)
        } else {
            (Status::Reverted, Event::Reverted)
        };
        self.advance(
            id,
            to,
            None,
            |_| true,
            |s| {
                s.tx.inclusion = Some(inclusion);
                s.tx.next_attempt_at = None;
                log(
                    s,
                    HistoryEntry::now(event)
                        .hash(hash)
                        .detail(format!("block {}", inclusion.block_number)),
                );
            },
        )
    }

    async fn record_reorged(
        &self,
        id: TxId,
        nonce: u64,
        chain_next: u64,
    ) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Broadcast,
            Some(&[Status::Confirmed, Status::Reverted]),
            |s| s.tx.nonce == Some(nonce) && s.tx.signed.is_some(),
            |s| {
                s.tx.inclusion = None;
                s.tx.next_attempt_at = Some(OffsetDateTime::now_utc());
                log(s, HistoryEntry::reorged(nonce, chain_next));
            },
        )
    }

    async fn record_nonce_lost(
        &self,
        id: TxId,
        lost: &SignedTx,
        chain_next: u64,
    ) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Retrying,
            Some(&[Status::Signed, Status::Broadcast, Status::Retrying]),
            |s| {
                s.tx.nonce == Some(lost.nonce)
                    && s.tx
                        .signed
                        .as_ref()
                        .is_some_and(|now| now.hash == lost.hash)
            },
            |s| {
                s.tx.next_attempt_at = Some(OffsetDateTime::now_utc());
                s.tx.generation += 1;
                unsigned(s);
                log(s, HistoryEntry::nonce_lost(lost, chain_next));
            },
        )
    }

    async fn record_retry(&self, id: TxId, retry: &RetryRecord) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Retrying,
            Some(&[Status::Received, Status::Retrying, Status::Signed]),
            |_| true,
            |s| {
                s.tx.last_error = Some(crate::redact::scrub(&retry.reason));
                s.tx.next_attempt_at = Some(retry.next_attempt_at);
                s.tx.attempts = retry.attempt;
                let mut entry = HistoryEntry::now(Event::Retry).detail(&retry.reason);
                entry.attempt = Some(retry.attempt);
                entry.next_attempt_at = Some(retry.next_attempt_at);
                entry.backoff_ceiling_ms = Some(retry.backoff_ceiling.as_millis() as u64);
                log(s, entry);
            },
        )
    }

    async fn record_wait(
        &self,
        id: TxId,
        reason: &str,
        next_attempt_at: OffsetDateTime,
        generation: u32,
    ) -> Result<(), StoreError> {
        let reason = crate::redact::scrub(reason);
        self.advance(
            id,
            Status::Retrying,
            Some(&[Status::Received, Status::Retrying, Status::Signed]),
            |s| s.tx.generation <= generation,
            |s| {
                // The history notes a wait when it starts or its reason's code changes, not
                // each check.
                let code = HistoryEntry::reason_code(&reason);
                let same_wait = s.tx.status == Status::Retrying
                    && s.tx
                        .last_error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(code));
                if !same_wait {
                    log(s, HistoryEntry::waiting(&reason, next_attempt_at));
                }
                s.tx.last_error = Some(reason.clone());
                s.tx.next_attempt_at = Some(next_attempt_at);
            },
        )
    }

    async fn record_needs_review(
        &self,
        id: TxId,
        reason: &str,
        generation: u32,
    ) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::NeedsReview,
            None,
            |s| s.tx.generation <= generation,
            |s| {
                s.tx.last_error = Some(crate::redact::scrub(reason));
                s.tx.next_attempt_at = None;
                log(s, HistoryEntry::now(Event::NeedsReview).detail(reason));
            },
        )
    }

    async fn record_reverted_unsent(&self, id: TxId, reason: &str) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Reverted,
            None,
            |s| s.tx.signed.is_none(),
            |s| {
                s.tx.last_error = Some(crate::redact::scrub(reason));
                s.tx.next_attempt_at = None;
                log(s, HistoryEntry::reverted_unsent(reason));
            },
        )
    }

    async fn follow(
        &self,
        id: TxId,
        next_check_at: OffsetDateTime,
        current: Option<&str>,
        token: &str,
    ) -> Result<(), StoreError> {
        let applied = self.apply(
            id,
            |s| s.tx.status == Status::Broadcast && s.tx.follow_token.as_deref() == current,
            |s| {
                s.tx.next_attempt_at = Some(next_check_at);
                s.tx.follow_token = Some(token.to_owned());
            },
        );
        conflict_unless(applied, id, Status::Broadcast)
    }

    async fn schedule(&self, id: TxId, next_attempt_at: OffsetDateTime) -> Result<(), StoreError> {
        self.apply(
            id,
            |_| true,
            |s| s.tx.next_attempt_at = Some(next_attempt_at),
        )
        .map(|_| ())
    }

    async fn record_dead_letter(
        &self,
        id: TxId,
        queue: &str,
        message_id: &str,
        generation: u32,
    ) -> Result<(), StoreError> {
        let flagged = self.apply(
            id,
            |s| s.dead_letter_message_id.as_deref() != Some(message_id),
            |s| {
                s.tx.dead_lettered = true;
                s.dead_letter_message_id = Some(message_id.to_owned());
                log(s, HistoryEntry::dead_lettered(queue, message_id));
            },
        )?;
        if !flagged {
            return Ok(());
        }
        let reason =
            format!("its message exhausted its deliveries and is in the dead-letter queue {queue}");
        match self.advance(
            id,
            Status::NeedsReview,
            None,
            |s| s.tx.generation <= generation,
            |s| {
                s.tx.last_error = Some(crate::redact::scrub(&reason));
                s.tx.next_attempt_at = None;
                log(s, HistoryEntry::now(Event::NeedsReview).detail(&reason));
            },
        ) {
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn record_admin_retry(
        &self,
        id: TxId,
        seen: Status,
        action: AdminRetry,
        by: &str,
    ) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc();
        let entry = |what: &str| HistoryEntry::retry_requested(by, what);
        let sources = Status::sources_of(Status::Retrying);
        let applied = match action {
            AdminRetry::SkipWait => self.apply(
                id,
                |s| s.tx.status == Status::Retrying,
                |s| {
                    s.tx.next_attempt_at = Some(now);
                    s.tx.generation += 1;
                    log(s, entry("next attempt now instead of after the backoff"));
                },
            ),
            AdminRetry::ResendSigned => self.apply(
                id,
                |s| s.tx.status == seen && sources.contains(&seen) && s.tx.signed.is_some(),
                |s| {
                    s.tx.status = Status::Retrying;
                    s.tx.next_attempt_at = Some(now);
                    s.tx.generation += 1;
                    log(
                        s,
                        entry("re-send the same signed transaction; the broadcaster decides on chain what became of its nonce"),
                    );
                },
            ),
            AdminRetry::ResignFresh => self.apply(
                id,
                |s| s.tx.status == seen && sources.contains(&seen),
                |s| {
                    s.tx.status = Status::Retrying;
                    s.tx.next_attempt_at = Some(now);
                    s.tx.generation += 1;
                    unsigned(s);
                    log(
                        s,
                        entry("sign again with a fresh nonce; the old one is gone"),
                    );
                },
            ),
        };
        conflict_unless(applied, id, Status::Retrying)
    }

    async fn record_event(&self, id: TxId, entry: HistoryEntry) -> Result<(), StoreError> {
        self.apply(id, |_| true, |s| log(s, entry)).map(|_| ())
    }
}
