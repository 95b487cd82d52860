//! The JSON shape of a transaction in API answers.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use tx_shared::domain::Transaction;

#[derive(Debug, Serialize)]
pub(crate) struct TransactionView {
    transaction_id: String,
    status: &'static str,
    message_type: String,
    function_signature: String,
    data: String,
    chain_id: u64,
    nonce: Option<u64>,
    signer_address: Option<String>,
    to: Option<String>,
    tx_hash: Option<String>,
    block_number: Option<u64>,
    attempts: u32,
    last_error: Option<String>,
    idempotency_key: Option<String>,
    created_at: String,
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
            nonce: tx.nonce,
            signer_address: tx.from.map(|a| a.to_string()),
            to: tx.signed.as_ref().map(|s| s.to.to_string()),
            tx_hash: tx.signed.as_ref().map(|s| s.hash.to_string()),
            block_number: tx.inclusion.map(|i| i.block_number),
            attempts: tx.attempts,
            last_error: tx.last_error.clone(),
            idempotency_key: tx.idempotency_key.clone(),
            created_at: time(tx.created_at),
            updated_at: time(tx.updated_at),
        }
    }
}
