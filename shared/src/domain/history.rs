//! What happened to a transaction, in order: every attempt, error, hash and decision.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::B256;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Signed,
    Broadcast,
    /// An attempt failed; another is scheduled.
    Retry,
    /// The same nonce was re-signed with higher fees; `tx_hash` is the new hash.
    Replaced,
    Confirmed,
    Reverted,
    NeedsReview,
    /// The message exhausted its deliveries and sits in a dead-letter queue.
    DeadLettered,
    /// The sweeper found it stuck and published it again.
    Swept,
    /// Its nonce was consumed by a zero-value self-transfer so later nonces are not blocked.
    NonceFilled,
    /// An operator asked for a retry; `detail` says who and what was done.
    RetryRequested,
    /// Another sender's transaction took the attempt's nonce, and none of the attempt's hashes
    /// is on chain: the attempt is abandoned (`tx_hash`, its last hash) and the call is signed
    /// again at a fresh nonce.
    NonceLost,
    /// Its nonce is no longer mined: the block that included it was reorganised away, and it
    /// is followed again.
    Reorged,
}

impl Event {
    const ALL: [Event; 13] = [
        Event::Signed,
        Event::Broadcast,
        Event::Retry,
        Event::Replaced,
        Event::Confirmed,
        Event::Reverted,
        Event::NeedsReview,
        Event::DeadLettered,
        Event::Swept,
        Event::NonceFilled,
        Event::RetryRequested,
        Event::NonceLost,
        Event::Reorged,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Event::Signed => "signed",
            Event::Broadcast => "broadcast",
            Event::Retry => "retry",
            Event::Replaced => "replaced",
            Event::Confirmed => "confirmed",
            Event::Reverted => "reverted",
            Event::NeedsReview => "needs_review",
            Event::DeadLettered => "dead_lettered",
            Event::Swept => "swept",
            Event::NonceFilled => "nonce_filled",
            Event::RetryRequested => "retry_requested",
            Event::NonceLost => "nonce_lost",
            Event::Reorged => "reorged",
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Event {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Event::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unknown history event `{s}`"))
    }
}

/// One line of a transaction's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: OffsetDateTime,
    pub event: Event,
    pub detail: Option<String>,
    pub tx_hash: Option<B256>,
    /// The delivery that failed (1-based), for retries.
    pub attempt: Option<u32>,
    pub next_attempt_at: Option<OffsetDateTime>,
    /// The backoff ceiling the retry's delay was drawn under.
    pub backoff_ceiling_ms: Option<u64>,
}

impl HistoryEntry {
    pub fn now(event: Event) -> Self {
        HistoryEntry {
            at: OffsetDateTime::now_utc(),
            event,
            detail: None,
            tx_hash: None,
            attempt: None,
            next_attempt_at: None,
            backoff_ceiling_ms: None,
        }
    }

    /// Signed: the nonce, fees and gas it was signed with.
    pub fn signed_as(signed: &super::SignedTx) -> Self {
        HistoryEntry::now(Event::Signed)
            .hash(signed.hash)
            .detail(format!(
                "nonce {}, max fee {} wei, priority fee {} wei, gas limit {}",
                signed.nonce,
                signed.max_fee_per_gas,
                signed.max_priority_fee_per_gas,
                signed.gas_limit
            ))
    }

    /// Replaced at the same nonce with higher fees.
    pub fn replaced(old: B256, signed: &super::SignedTx) -> Self {
        HistoryEntry::now(Event::Replaced)
            .hash(signed.hash)
            .detail(format!(
                "replaces {old}: max fee {} wei, priority fee {} wei",
                signed.max_fee_per_gas, signed.max_priority_fee_per_gas
            ))
    }

    /// The stable part of a reason, `fee_above_cap:` of `fee_above_cap: asks 9 gwei …`: its code
    /// and the colon after it, or the whole text if it has none. A wait is the same wait while
    /// this stays the same, whatever the figures after it.
    pub fn reason_code(reason: &str) -> &str {
        reason.find(':').map_or(reason, |colon| &reason[..=colon])
    }

    /// A wait began (or its reason changed); the next attempt is at `next_attempt_at`.
    pub fn waiting(reason: &str, next_attempt_at: OffsetDateTime) -> Self {
        let mut entry = HistoryEntry::now(Event::Retry).detail(format!("waiting: {reason}"));
        entry.next_attempt_at = Some(next_attempt_at);
        entry
    }

    /// Reverted without being sent: the call reverts when estimated.
    pub fn reverted_unsent(reason: &str) -> Self {
        HistoryEntry::now(Event::Reverted).detail(format!("not sent: {reason}"))
    }

    /// Its message reached a dead-letter queue.
    pub fn dead_lettered(queue: &str, message_id: &str) -> Self {
        HistoryEntry::now(Event::DeadLettered).detail(format!("{queue}, message {message_id}"))
    }

    /// An operator asked for a retry, and what it does.
    /// The attempt at `lost.nonce` is abandoned: the chain's next nonce is `chain_next`, and
    /// the transaction that took the nonce is not one of the attempt's.
    pub fn nonce_lost(lost: &super::SignedTx, chain_next: u64) -> Self {
        HistoryEntry::now(Event::NonceLost)
            .hash(lost.hash)
            .detail(format!(
                "nonce {} was taken by another sender's transaction (the chain's next nonce is {chain_next}) and none of this attempt's hashes is on chain; signing again at a fresh nonce",
                lost.nonce
            ))
    }

    /// Its nonce is not mined any more: followed again.
    pub fn reorged(nonce: u64, chain_next: u64) -> Self {
        HistoryEntry::now(Event::Reorged).detail(format!(
            "nonce {nonce} is not mined on the chain any more (its next nonce is {chain_next}): the block that included it was reorganised away; followed again"
        ))
    }

    pub fn retry_requested(by: &str, what: &str) -> Self {
        HistoryEntry::now(Event::RetryRequested).detail(format!("by {by}: {what}"))
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn hash(mut self, hash: B256) -> Self {
        self.tx_hash = Some(hash);
        self
    }
}
