//! The JSON shapes of API answers: a transaction, and every error.

use crate::domain::{Transaction, TxId};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

/// One transaction, as its client (or an operator) sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Transaction)]
pub struct TransactionView {
    #[schema(format = "uuid")]
    transaction_id: String,
    #[schema(value_type = crate::domain::Status)]
    status: &'static str,
    /// The signature as the client sent it.
    message_type: String,
    /// Its canonical form, e.g. `add_weight(address,uint256)`.
    function_signature: String,
    /// The calldata: selector and ABI-encoded arguments.
    #[schema(pattern = "^0x([0-9a-f]{2})*$")]
    data: String,
    chain_id: u64,
    /// The client that sent it (its API key's id).
    client_id: Option<String>,
    nonce: Option<u64>,
    /// The lane (sender address) that took its nonce.
    #[schema(pattern = "^0x[0-9a-fA-F]{40}$")]
    signer_address: Option<String>,
    #[schema(pattern = "^0x[0-9a-fA-F]{40}$")]
    to: Option<String>,
    #[schema(pattern = "^0x[0-9a-f]{64}$")]
    tx_hash: Option<String>,
    block_number: Option<u64>,
    attempts: u32,
    /// Why the last attempt failed or waits, starting with a stable reason where there is one.
    last_error: Option<String>,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    /// Its message sits in a dead-letter queue.
    dead_lettered: bool,
    /// Every hash it was signed as, replacements included, oldest first.
    hashes: Vec<String>,
    /// Every step, oldest first.
    history: Vec<HistoryView>,
    idempotency_key: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&Transaction> for TransactionView {
    fn from(tx: &Transaction) -> Self {
        let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        TransactionView {
            transaction_id: tx.id.to_string(),
            status: tx.status.as_str(),
            message_type: tx.message_type.clone(),
            function_signature: tx.function_signature.clone(),
            data: tx.data.to_string(),
            chain_id: tx.chain_id,
            client_id: tx.client.as_ref().map(ToString::to_string),
            nonce: tx.nonce,
            signer_address: tx.from.map(|a| a.to_string()),
            to: tx.signed.as_ref().map(|s| s.to.to_string()),
            tx_hash: tx.signed.as_ref().map(|s| s.hash.to_string()),
            block_number: tx.inclusion.map(|i| i.block_number),
            attempts: tx.attempts,
            last_error: tx.last_error.clone(),
            next_attempt_at: tx.next_attempt_at.map(time),
            dead_lettered: tx.dead_lettered,
            hashes: tx.all_hashes().iter().map(|h| h.to_string()).collect(),
            history: tx
                .history
                .iter()
                .map(|e| HistoryView {
                    at: time(e.at),
                    event: e.event.as_str(),
                    detail: e.detail.clone(),
                    tx_hash: e.tx_hash.map(|h| h.to_string()),
                    attempt: e.attempt,
                    next_attempt_at: e.next_attempt_at.map(time),
                    backoff_ceiling_ms: e.backoff_ceiling_ms,
                })
                .collect(),
            idempotency_key: tx.idempotency_key.clone(),
            created_at: time(tx.created_at),
            updated_at: time(tx.updated_at),
        }
    }
}

/// One step of a transaction's life.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HistoryEntry)]
pub struct HistoryView {
    #[schema(format = DateTime)]
    at: String,
    /// What happened: `received`, `signed`, `broadcast`, `retry`, `replaced`, `confirmed`, ….
    event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^0x[0-9a-f]{64}$")]
    tx_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backoff_ceiling_ms: Option<u64>,
}

/// Every error answer of every route: `{"error": {"code": "...", "message": "..."}}`. The code
/// is stable snake_case for machines; the message is for a human and never shows internals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ErrorDetail)]
pub struct ErrorDetail<'a> {
    /// Stable snake_case, for machines.
    code: &'a str,
    /// For a human; never shows internals.
    message: &'a str,
    /// When the request is stored despite the error: the transaction to follow instead of
    /// sending the request again.
    #[serde(skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
}

impl<'a> ErrorBody<'a> {
    pub fn new(code: &'a str, message: &'a str) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message,
                transaction_id: None,
            },
        }
    }

    /// The error concerns a stored transaction, which the client should follow.
    pub fn about(mut self, id: TxId) -> Self {
        self.error.transaction_id = Some(id.to_string());
        self
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}
