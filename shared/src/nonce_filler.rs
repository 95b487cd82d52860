//! Keeps a nonce sequence moving when a transaction that holds a nonce can never be sent: the
//! nonce is consumed by a zero-value transfer to ourselves, so later transactions are not stuck
//! behind the gap.

use alloy::primitives::{B256, Bytes};

use crate::domain::{Event, HistoryEntry, TxId};
use crate::ports::{ChainNode, NodeError, SignError, TransactionSigner, Transitions};

/// Why a nonce could not be filled: the node or the key, each keeping its own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Key(#[from] SignError),
}

/// The intrinsic gas of a plain transfer.
const TRANSFER_GAS: u64 = 21_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// A filler was sent with this hash.
    Sent(B256),
    /// The nonce is already used on chain: nothing to fill.
    AlreadyUsed,
}

pub async fn fill_nonce<N: ChainNode, K: TransactionSigner>(
    node: &N,
    key: &K,
    chain_id: u64,
    nonce: u64,
) -> Result<Fill, FillError> {
    let from = key.address().await?;
    if node.mined_nonce(from).await? > nonce {
        return Ok(Fill::AlreadyUsed);
    }
    let plan = node.plan_gas(from, from, &Bytes::new()).await?;
    let filler = crate::domain::fees::eip1559(
        chain_id,
        nonce,
        from,
        TRANSFER_GAS,
        crate::domain::fees::Fees {
            max_fee_per_gas: plan.max_fee_per_gas,
            max_priority_fee_per_gas: plan.max_priority_fee_per_gas,
        },
        Bytes::new(),
    );
    let signed = key.sign(filler).await?;
    match node.send_raw(&signed.raw).await {
        Ok(_) | Err(NodeError::AlreadyKnown) => Ok(Fill::Sent(signed.hash)),
        Err(NodeError::NonceTooLow(_)) => Ok(Fill::AlreadyUsed),
        // Something already sits at that nonce in the pool (another filler, from an overlapping
        // run, or the transaction itself): the nonce is in hand, not a hole.
        Err(NodeError::Underpriced(detail)) if detail.contains("replacement") => {
            Ok(Fill::AlreadyUsed)
        }
        Err(e) => Err(e.into()),
    }
}

/// Fills the nonce a transaction holds and notes it in its history; failures are logged (the
/// transaction needs review anyway, and the note tells the operator what is left to do).
pub async fn fill_for<S, N, K>(store: &S, node: &N, key: &K, chain_id: u64, id: TxId, nonce: u64)
where
    S: Transitions,
    N: ChainNode,
    K: TransactionSigner,
{
    match fill_nonce(node, key, chain_id, nonce).await {
        Ok(Fill::Sent(hash)) => {
            tracing::warn!(nonce, filler = %hash, "filled the nonce of a transaction that will not be sent");
            let entry = HistoryEntry::now(Event::NonceFilled)
                .hash(hash)
                .detail(format!(
                    "nonce {nonce} consumed by a zero-value self-transfer"
                ));
            if let Err(e) = store.record_event(id, entry).await {
                tracing::warn!(error = %e, "could not record the nonce filler");
            }
        }
        Ok(Fill::AlreadyUsed) => {}
        Err(e) => {
            tracing::error!(nonce, error = %e, "could not fill the nonce gap; later transactions wait behind it")
        }
    }
}
