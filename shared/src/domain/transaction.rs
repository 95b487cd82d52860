//! The transaction record and the messages that move it between functions.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, B256, Bytes};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{HistoryEntry, Status};
use crate::auth::ClientId;

/// A transaction's id: a UUID v7, so ids sort by creation time (the list index relies on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(uuid::Uuid);

impl TxId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        TxId(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lowercase hyphenated: lexicographic order equals creation order for v7 ids.
        write!(f, "{}", self.0.as_hyphenated())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a transaction id (expected a UUID such as 01900000-0000-7000-8000-000000000000)"
)]
pub struct InvalidTxId(pub String);

impl FromStr for TxId {
    type Err = InvalidTxId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s)
            .map(TxId)
            .map_err(|_| InvalidTxId(s.to_owned()))
    }
}

impl Serialize for TxId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TxId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// What the API stores for a validated request, before anything else happens to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    pub id: TxId,
    /// The signature as the client sent it, parameter names included.
    pub message_type: String,
    /// The canonical signature, e.g. `add_weight(address,uint256)`.
    pub function_signature: String,
    pub data: Bytes,
    pub chain_id: u64,
    /// The client that sent it: it alone (and operators) may read it.
    pub client: ClientId,
    /// Scoped to the client: two clients may use the same key.
    pub idempotency: Option<Idempotency>,
    pub created_at: OffsetDateTime,
}

/// A client's idempotency key and a fingerprint of the request it was first used with, so a
/// key reused for a different request is refused instead of silently answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub key: String,
    pub request_fingerprint: B256,
}

/// The EIP-1559 transaction the signer produced, exactly as it will be broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    pub nonce: u64,
    pub from: Address,
    pub to: Address,
    pub gas_limit: u64,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub hash: B256,
    /// EIP-2718 encoded signed transaction: the bytes `eth_sendRawTransaction` takes.
    pub raw: Bytes,
}

/// Where a transaction ended up on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inclusion {
    pub block_number: u64,
    pub succeeded: bool,
}

/// The stored transaction, as every function and the API see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: TxId,
    pub status: Status,
    pub message_type: String,
    pub function_signature: String,
    pub data: Bytes,
    pub chain_id: u64,
    /// The client that sent it; `None` only for records stored before clients were recorded,
    /// which only operators see.
    pub client: Option<ClientId>,
    pub idempotency_key: Option<String>,
    /// Set atomically with the nonce counter; never changes once set.
    pub nonce: Option<u64>,
    /// The signer's address, set with the nonce.
    pub from: Option<Address>,
    pub signed: Option<SignedTx>,
    pub inclusion: Option<Inclusion>,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// When the next attempt or check is due; the sweeper uses it to tell stuck from waiting.
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Whether its message sits in a dead-letter queue.
    pub dead_lettered: bool,
    /// Operator retries so far.
    pub generation: u32,
    /// The receipt-check chain that follows it: only the check message carrying this token
    /// goes on, so duplicates of a check (redeliveries, hand-overs, re-drives) die out.
    pub follow_token: Option<String>,
    pub history: Vec<HistoryEntry>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Transaction {
    /// Every hash this transaction was ever signed as (replacements included), oldest first.
    pub fn all_hashes(&self) -> Vec<B256> {
        let mut hashes: Vec<B256> = self
            .history
            .iter()
            .filter(|e| matches!(e.event, super::Event::Signed | super::Event::Replaced))
            .filter_map(|e| e.tx_hash)
            .collect();
        if let Some(current) = self.signed.as_ref().map(|s| s.hash)
            && !hashes.contains(&current)
        {
            hashes.push(current);
        }
        hashes
    }

    /// The hashes of the current attempt, oldest first: its signature at its nonce and the
    /// replacements at that nonce. Only these decide its fate. An earlier attempt (at a nonce
    /// an operator's retry or a stranger took from it) may have a receipt of its own, a
    /// reverted one say, that says nothing of this attempt.
    pub fn attempt_hashes(&self) -> Vec<B256> {
        let Some(current) = self.signed.as_ref().map(|s| s.hash) else {
            return Vec::new();
        };
        let start = self
            .history
            .iter()
            .rposition(|e| e.event == super::Event::Signed)
            .unwrap_or(0);
        let mut hashes: Vec<B256> = self.history[start..]
            .iter()
            .filter(|e| matches!(e.event, super::Event::Signed | super::Event::Replaced))
            .filter_map(|e| e.tx_hash)
            .collect();
        if !hashes.contains(&current) {
            hashes.push(current);
        }
        hashes
    }

    /// The record as the API first stores it.
    pub fn received(new: &NewTransaction) -> Self {
        Transaction {
            id: new.id,
            status: Status::Received,
            message_type: new.message_type.clone(),
            function_signature: new.function_signature.clone(),
            data: new.data.clone(),
            chain_id: new.chain_id,
            client: Some(new.client.clone()),
            idempotency_key: new.idempotency.as_ref().map(|i| i.key.clone()),
            nonce: None,
            from: None,
            signed: None,
            inclusion: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: None,
            dead_lettered: false,
            generation: 0,
            follow_token: None,
            history: Vec::new(),
            created_at: new.created_at,
            updated_at: new.created_at,
        }
    }
}

/// The body of every queue message: the id is all a consumer needs, the record is the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxMessage {
    pub transaction_id: TxId,
    /// For the broadcaster: how many times the receipt has already been polled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub receipt_checks: u32,
    /// Which operator retry the message belongs to (0: the original run). A dead letter from
    /// an older generation must not throw a retried transaction back into review.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// For the broadcaster's receipt checks: the follow chain the message belongs to
    /// (`Transaction::follow_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    /// For the broadcaster's receipt checks: the bid an earlier check of this chain saw
    /// pending, and the head block then, so a stuck bid is re-priced after a number of blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<PendingSince>,
}

/// A bid seen pending, and the head block when it was first seen so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSince {
    pub hash: B256,
    pub block: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TxMessage {
    pub fn new(transaction_id: TxId) -> Self {
        TxMessage {
            transaction_id,
            receipt_checks: 0,
            generation: 0,
            follow: None,
            pending_since: None,
        }
    }

    /// A message for the transaction's current generation (and follow chain).
    pub fn of(tx: &Transaction) -> Self {
        TxMessage {
            generation: tx.generation,
            follow: tx.follow_token.clone(),
            ..TxMessage::new(tx.id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation_time_as_strings() {
        let first = TxId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = TxId::generate();
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id = TxId::generate();
        assert_eq!(id.to_string().parse::<TxId>(), Ok(id));
        assert!("not-an-id".parse::<TxId>().is_err());
        assert!("".parse::<TxId>().is_err());
    }

    #[test]
    fn messages_are_small_json() {
        let id = TxId::generate();
        let json = serde_json::to_string(&TxMessage::new(id)).unwrap_or_default();
        assert_eq!(json, format!("{{\"transaction_id\":\"{id}\"}}"));
        let parsed: Result<TxMessage, _> = serde_json::from_str(&json);
        assert_eq!(parsed.ok(), Some(TxMessage::new(id)));
    }
}
