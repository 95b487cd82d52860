//! Every other move along the status machine, each a conditional write.

use super::*;

impl Transitions for DynamoStore {
    async fn record_broadcast(&self, id: TxId) -> Result<(), StoreError> {
        // Never out of a final status: only the watchdog's reorg does that.
        let change = Change::new()
            .only_from(&[Status::Signed, Status::Retrying])
            .when("attribute_exists(tx_hash)", [])
            .remove("next_attempt_at")
            .log(HistoryEntry::now(Event::Broadcast));
        self.advance(id, Status::Broadcast, change).await
    }

    async fn record_replacement(
        &self,
        id: TxId,
        old: B256,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let change = signed_fields(Change::new(), signed)
            .when(
                "#status IN (:signed, :broadcast, :retrying) AND tx_hash = :old_hash AND nonce = :nonce",
                [
                    (":signed", s(Status::Signed.as_str())),
                    (":broadcast", s(Status::Broadcast.as_str())),
                    (":retrying", s(Status::Retrying.as_str())),
                    (":old_hash", s(old.to_string())),
                ],
            )
            .log(HistoryEntry::replaced(old, signed));
        self.apply_or_conflict(id, change, Status::Broadcast).await
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
        let change = Change::new()
            .set("block_number", n(inclusion.block_number))
            .set("included_hash", s(hash.to_string()))
            .remove("next_attempt_at")
            .log(
                HistoryEntry::now(event)
                    .hash(hash)
                    .detail(format!("block {}", inclusion.block_number)),
            );
        self.advance(id, to, change).await
    }

    async fn record_reorged(
        &self,
        id: TxId,
        nonce: u64,
        chain_next: u64,
    ) -> Result<(), StoreError> {
        let change = Change::new()
            .only_from(&[Status::Confirmed, Status::Reverted])
            .when(
                "nonce = :reorged_nonce AND attribute_exists(tx_hash)",
                [(":reorged_nonce", n(nonce))],
            )
            .remove("block_number")
            .remove("included_hash")
            .set("next_attempt_at", s(now_rfc3339()))
            .log(HistoryEntry::reorged(nonce, chain_next));
        self.advance(id, Status::Broadcast, change).await
    }

    async fn record_nonce_lost(
        &self,
        id: TxId,
        lost: &SignedTx,
        chain_next: u64,
    ) -> Result<(), StoreError> {
        let change = unsigned(
            Change::new()
                .only_from(&[Status::Signed, Status::Broadcast, Status::Retrying])
                .when(
                    "tx_hash = :lost_hash AND nonce = :lost_nonce",
                    [
                        (":lost_hash", s(lost.hash.to_string())),
                        (":lost_nonce", n(lost.nonce)),
                    ],
                )
                .set("next_attempt_at", s(now_rfc3339())),
        )
        .add_one("generation")
        .log(HistoryEntry::nonce_lost(lost, chain_next));
        self.advance(id, Status::Retrying, change).await
    }

    async fn record_retry(&self, id: TxId, retry: &RetryRecord) -> Result<(), StoreError> {
        let mut entry = HistoryEntry::now(Event::Retry).detail(&retry.reason);
        entry.attempt = Some(retry.attempt);
        entry.next_attempt_at = Some(retry.next_attempt_at);
        entry.backoff_ceiling_ms = Some(retry.backoff_ceiling.as_millis() as u64);
        let change = Change::new()
            .set("last_error", s(crate::redact::scrub(&retry.reason)))
            .set("next_attempt_at", s(format_time(retry.next_attempt_at)))
            .set("attempts", n(retry.attempt))
            // A consumer's retry; only an operator revives `needs_review` or `reverted`.
            .only_from(&[Status::Received, Status::Retrying, Status::Signed])
            .log(entry);
        self.advance(id, Status::Retrying, change).await
    }

    async fn record_wait(
        &self,
        id: TxId,
        reason: &str,
        next_attempt_at: OffsetDateTime,
        generation: u32,
    ) -> Result<(), StoreError> {
        let reason = crate::redact::scrub(reason);
        let waiting = || {
            Change::new()
                .set("last_error", s(&reason))
                .set("next_attempt_at", s(format_time(next_attempt_at)))
                .only_from(&[Status::Received, Status::Retrying, Status::Signed])
                .when(
                    "attribute_not_exists(generation) OR generation <= :generation",
                    [(":generation", n(generation))],
                )
        };
        // A wait can last days, one check a minute: the history says when it started and
        // when its reason changed (its stable code, not the figures after it, which move with
        // every block), not every check, so the item never outgrows DynamoDB's 400 KB.
        let entry = HistoryEntry::waiting(&reason, next_attempt_at);
        let first = waiting()
            .when(
                "attribute_not_exists(last_error) OR NOT begins_with(last_error, :wait_code) \
                 OR #status <> :retrying_now",
                [
                    (":wait_code", s(HistoryEntry::reason_code(&reason))),
                    (":retrying_now", s(Status::Retrying.as_str())),
                ],
            )
            .log(entry);
        if self.apply(id, first.to(Status::Retrying)).await? {
            return Ok(());
        }
        self.advance(id, Status::Retrying, waiting()).await
    }

    async fn record_needs_review(
        &self,
        id: TxId,
        reason: &str,
        generation: u32,
    ) -> Result<(), StoreError> {
        let change = Change::new()
            .when(
                "attribute_not_exists(generation) OR generation <= :review_generation",
                [(":review_generation", n(generation))],
            )
            .set("last_error", s(crate::redact::scrub(reason)))
            .remove("next_attempt_at")
            .log(HistoryEntry::now(Event::NeedsReview).detail(reason));
        self.advance(id, Status::NeedsReview, change).await
    }

    async fn record_reverted_unsent(&self, id: TxId, reason: &str) -> Result<(), StoreError> {
        let change = Change::new()
            .set("last_error", s(crate::redact::scrub(reason)))
            .remove("next_attempt_at")
            .when("attribute_not_exists(tx_hash)", [])
            .log(HistoryEntry::reverted_unsent(reason));
        self.advance(id, Status::Reverted, change).await
    }

    async fn follow(
        &self,
        id: TxId,
        next_check_at: OffsetDateTime,
        current: Option<&str>,
        token: &str,
    ) -> Result<(), StoreError> {
        let chain = match current {
            Some(current) => Change::new().when(
                "follow_token = :current_link",
                [(":current_link", s(current))],
            ),
            None => Change::new().when("attribute_not_exists(follow_token)", []),
        };
        let change = chain
            .when(
                "#status = :followed",
                [(":followed", s(Status::Broadcast.as_str()))],
            )
            .set("next_attempt_at", s(format_time(next_check_at)))
            .set("follow_token", s(token));
        self.apply_or_conflict(id, change, Status::Broadcast).await
    }

    async fn schedule(&self, id: TxId, next_attempt_at: OffsetDateTime) -> Result<(), StoreError> {
        let change = Change::new().set("next_attempt_at", s(format_time(next_attempt_at)));
        self.apply_to_existing(id, change).await
    }

    async fn record_dead_letter(
        &self,
        id: TxId,
        queue: &str,
        message_id: &str,
        generation: u32,
    ) -> Result<(), StoreError> {
        let reason =
            format!("its message exhausted its deliveries and is in the dead-letter queue {queue}");
        // Once per message: a kept message comes back to the consumer every 12 hours, and must
        // not throw a transaction an operator has retried since back into review.
        let flag = Change::new()
            .set("dead_lettered", AttributeValue::Bool(true))
            .set("dead_letter_message_id", s(message_id))
            .when(
                "attribute_not_exists(dead_letter_message_id) OR dead_letter_message_id <> :message_id",
                [(":message_id", s(message_id))],
            )
            .log(HistoryEntry::dead_lettered(queue, message_id));
        if !self.apply(id, flag).await? {
            return match self.get_tx(id).await? {
                None => Err(StoreError::NotFound(id)),
                Some(_) => Ok(()),
            };
        }
        // Only a dead letter of the current generation means the transaction needs review: an
        // older one died before an operator's retry that is still under way.
        let review = Change::new()
            .set("last_error", s(crate::redact::scrub(&reason)))
            .remove("next_attempt_at")
            .when(
                "attribute_not_exists(generation) OR generation <= :generation",
                [(":generation", n(generation))],
            )
            .log(HistoryEntry::now(Event::NeedsReview).detail(&reason));
        match self.advance(id, Status::NeedsReview, review).await {
            // Final already, under review, or retried since: the flag above is all there is to say.
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
        let now = s(now_rfc3339());
        let entry = |what: &str| HistoryEntry::retry_requested(by, what);
        let change = match action {
            AdminRetry::SkipWait => Change::new()
                .when(
                    "#status = :retrying",
                    [(":retrying", s(Status::Retrying.as_str()))],
                )
                .set("next_attempt_at", now)
                .log(entry("next attempt now instead of after the backoff")),
            AdminRetry::ResendSigned => Change::new()
                .to(Status::Retrying)
                .only_from(&[seen])
                .when("attribute_exists(tx_hash)", [])
                .set("next_attempt_at", now)
                .log(entry(
                    "re-send the same signed transaction; the broadcaster decides on chain what became of its nonce",
                )),
            AdminRetry::ResignFresh => unsigned(
                Change::new()
                    .to(Status::Retrying)
                    .only_from(&[seen])
                    .set("next_attempt_at", now),
            )
            .log(entry("sign again with a fresh nonce; the old one is gone")),
        }
        .add_one("generation");
        self.apply_or_conflict(id, change, Status::Retrying).await
    }

    async fn record_event(&self, id: TxId, entry: HistoryEntry) -> Result<(), StoreError> {
        self.apply_to_existing(id, Change::new().log(entry)).await
    }
}

/// Forgets the attempt's nonce and signature (its hashes stay in the history), so the signer
/// takes a fresh nonce.
fn unsigned(change: Change) -> Change {
    [
        "nonce",
        "signer_address",
        "tx_hash",
        "raw_tx",
        "target",
        "gas_limit",
        "max_fee_per_gas",
        "max_priority_fee_per_gas",
        "block_number",
        "included_hash",
        "lease_token",
        "lease_until",
        "nonce_account",
    ]
    .into_iter()
    .fold(change, Change::remove)
}
