//! Following a sent transaction until it is final: receipt checks, one chain of them per
//! transaction, re-sending what the node forgot, and re-pricing what is stuck.

use std::time::Duration;

use alloy::primitives::B256;
use time::OffsetDateTime;
use tx_shared::batch::RetryLater;
use tx_shared::domain::fees::{Fees, Market, Replacement, eip1559, replacement_fees};
use tx_shared::domain::{Inclusion, PendingSince, SignedTx, Status, Transaction, TxMessage};
use tx_shared::ports::{
    BroadcastQueue, ChainNode, Lookup, NodeError, NonceCounter, Reading, Redelivery, StoreError,
    TransactionSigner, Transitions,
};

use crate::{Broadcaster, Outcome, Sent};

/// How long until the next receipt check: the poll interval for the first five minutes or so,
/// then longer as the transaction ages (doubling every 60 checks, to a minute at most), so a
/// transaction that takes hours costs a bounded number of checks.
pub(crate) fn check_delay(poll: Duration, checks: u32) -> Duration {
    let factor = 1u32 << (checks / 60).min(4);
    (poll * factor).min(poll.max(Duration::from_secs(60)))
}

/// What a receipt check found.
pub(crate) enum Checked {
    Final(Inclusion, B256),
    /// Not final; the bid seen pending since which block, if it is.
    Open(Option<PendingSince>),
    NonceLost {
        chain_next: u64,
    },
}

/// What a re-pricing did.
pub(crate) enum Repriced {
    /// Re-signed, recorded and sent (the send may have failed: the next check sends it again).
    Sent(SignedTx),
    /// Any bid the node would take is over the cap.
    CapReached { needed: u128, cap: u128 },
    /// Another invocation replaced it first.
    Superseded,
}

/// Whether a bid is below what the market asks.
pub(crate) fn below(signed: &SignedTx, market: Market) -> bool {
    signed.max_fee_per_gas < market.base_fee || signed.max_priority_fee_per_gas < market.tip
}

/// Where a follow chain stands: the checks it made, and the bid it has seen pending since
/// which block (carried from check to check in the messages).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Progress {
    pub checks: u32,
    pub pending_since: Option<PendingSince>,
}

impl Progress {
    /// A chain starting at `checks`, having seen nothing pending yet.
    pub(crate) fn at(checks: u32) -> Self {
        Progress {
            checks,
            pending_since: None,
        }
    }

    pub(crate) fn of(message: &TxMessage) -> Self {
        Progress {
            checks: message.receipt_checks,
            pending_since: message.pending_since,
        }
    }
}

impl<S, Q, P, N, K> Broadcaster<S, Q, P, N, K>
where
    S: Reading + NonceCounter + Transitions,
    Q: BroadcastQueue + Redelivery,
    P: BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    /// Checks inclusion; finalizes, repairs (re-send, replace), or schedules the next check.
    pub(crate) async fn follow(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        progress: Progress,
    ) -> Result<Outcome, RetryLater> {
        let checks = progress.checks;
        let pending_since = match self.check(tx, signed, progress).await {
            Ok(Checked::Final(inclusion, hash)) => return self.finalize(tx, inclusion, hash).await,
            Ok(Checked::NonceLost { chain_next }) => {
                return self.resign(tx, signed, chain_next).await;
            }
            Ok(Checked::Open(pending_since)) => pending_since,
            Err(e) => {
                tracing::warn!(error = %e, "receipt check failed; checking again later");
                progress.pending_since
            }
        };
        // This check starts the next link of the one follow chain: the record names it, and a
        // check message that does not carry its token is a duplicate and dies out. The next
        // message goes out first; the record names it only if it still names this one. Either
        // failing leaves this message the chain's: it is delivered again.
        let token = format!("{:016x}", rand::random::<u64>());
        let delay = check_delay(self.receipt_poll, checks);
        let next = TxMessage {
            receipt_checks: checks.saturating_add(1),
            follow: Some(token.clone()),
            pending_since,
            ..TxMessage::of(tx)
        };
        self.queue
            .enqueue(&next, delay)
            .await
            .map_err(|e| RetryLater::new(e.to_string()))?;
        let due = OffsetDateTime::now_utc() + delay;
        match self
            .store
            .follow(tx.id, due, tx.follow_token.as_deref(), &token)
            .await
        {
            Ok(()) => Ok(Outcome::AwaitingReceipt),
            // Final, moved on, or another chain took over: the message just sent dies out.
            Err(StoreError::Conflict { .. }) => Ok(Outcome::NothingToDo),
            Err(e) => Err(RetryLater::new(e.to_string())),
        }
    }

    async fn check(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        progress: Progress,
    ) -> Result<Checked, NodeError> {
        let checks = progress.checks;
        // The count of blocks this bid has been seen pending, carried on unless it is re-priced.
        let mut carried = progress
            .pending_since
            .filter(|seen| seen.hash == signed.hash);
        let mut current = Lookup::Unknown;
        for hash in tx.attempt_hashes().into_iter().rev() {
            let lookup = self.node.lookup(hash).await?;
            if let Lookup::Included(inclusion) = lookup {
                return self.settled(inclusion, hash).await;
            }
            if hash == signed.hash {
                current = lookup;
            }
        }
        match current {
            Lookup::Unknown if checks > 0 => {
                tracing::warn!(tx_hash = %signed.hash, "the node does not know the transaction (dropped?); re-sending the same bytes");
                match self.node.send_raw(&signed.raw).await {
                    Ok(_) | Err(NodeError::AlreadyKnown) => {}
                    // Some nodes evict what falls below the base fee or the pool's tip, and
                    // refuse it back.
                    // Not "replacement underpriced": another transaction at our nonce is the
                    // chain's to settle, never ours to outbid.
                    Err(NodeError::Underpriced(detail)) if !detail.contains("replacement") => {
                        let market = self.market().await?;
                        if below(signed, market) {
                            self.reprice(tx, signed, market).await?;
                            carried = None;
                        } else {
                            tracing::warn!(%detail, "re-sending was refused as underpriced; checking again later");
                        }
                    }
                    Err(NodeError::Underpriced(detail)) => {
                        tracing::warn!(%detail, "another transaction holds our nonce in the pool; checking again later");
                    }
                    Err(NodeError::NonceTooLow(detail)) => {
                        match self.nonce_used(tx, signed, &detail).await? {
                            Sent::Mined(inclusion, hash) => {
                                return self.settled(inclusion, hash).await;
                            }
                            Sent::NonceLost { chain_next } => {
                                return Ok(Checked::NonceLost { chain_next });
                            }
                            Sent::Accepted => {}
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Lookup::Pending if checks > 0 => {
                let head = self.node.head().await?;
                if signed.max_fee_per_gas < head.base_fee {
                    let market = Market {
                        base_fee: head.base_fee,
                        tip: 0,
                    };
                    self.reprice(tx, signed, market).await?;
                    return Ok(Checked::Open(None));
                }
                // Pending for a number of blocks above the base fee: is the tip what keeps it
                // out? Counted from the first check that saw this bid pending.
                // A head below the count's start (a node behind) keeps the count: it only
                // waits longer.
                let since = carried.map_or(head.number, |seen| seen.block);
                if head.number.saturating_sub(since) >= self.reprice_after_blocks {
                    let tip = self.node.suggested_tip().await?;
                    if signed.max_priority_fee_per_gas < tip {
                        let market = Market {
                            base_fee: head.base_fee,
                            tip,
                        };
                        self.reprice(tx, signed, market).await?;
                        return Ok(Checked::Open(None));
                    }
                }
                return Ok(Checked::Open(Some(PendingSince {
                    hash: signed.hash,
                    block: since,
                })));
            }
            _ => {}
        }
        Ok(Checked::Open(carried))
    }

    /// A receipt decides only once it is `confirmations` deep and its block is the canonical
    /// one at its height: a receipt from a block a reorganisation took away (or a node that
    /// lies) confirms nothing.
    pub(crate) async fn settled(
        &self,
        inclusion: Inclusion,
        hash: B256,
    ) -> Result<Checked, NodeError> {
        // One node for the head, the receipt and its block: of a pool, a receipt from a node
        // on a fork must not be judged by another's chain.
        let node = self.node.one();
        let deep = |head: u64, inclusion: &Inclusion| {
            head + 1 >= inclusion.block_number + self.confirmations
        };
        let head = node.block_number().await?;
        if !deep(head, &inclusion) {
            return Ok(Checked::Open(None));
        }
        let Some(inclusion) = node.inclusion(hash).await?.filter(|i| deep(head, i)) else {
            return Ok(Checked::Open(None));
        };
        if !node.on_canonical_chain(hash).await? {
            tracing::warn!(tx_hash = %hash, block = inclusion.block_number, "its receipt names a block that is not canonical; checking again");
            return Ok(Checked::Open(None));
        }
        Ok(Checked::Final(inclusion, hash))
    }

    /// What the market asks now.
    pub(crate) async fn market(&self) -> Result<Market, NodeError> {
        let (head, tip) = tokio::try_join!(self.node.head(), self.node.suggested_tip())?;
        Ok(Market {
            base_fee: head.base_fee,
            tip,
        })
    }

    /// [`Self::replace`] for a transaction being followed: a cap reached is a wait, reported
    /// as one (the waiting alarm), and the transaction is followed on.
    async fn reprice(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        market: Market,
    ) -> Result<(), NodeError> {
        if let Repriced::CapReached { needed, cap } = self.replace(tx, signed, market).await? {
            let reason = format!(
                "fee_above_cap: a replacement at nonce {} needs {needed} wei per gas, over MAX_FEE_PER_GAS_WEI ({cap})",
                signed.nonce
            );
            tracing::error!(%reason, "stuck, and re-pricing would pass the cap; following on");
            tx_shared::metrics::waiting(&reason);
        }
        Ok(())
    }

    /// Re-signs the same nonce with fees bumped by at least the policy's percentage, and the
    /// tip at least the market's, and sends it.
    pub(crate) async fn replace(
        &self,
        tx: &Transaction,
        signed: &SignedTx,
        market: Market,
    ) -> Result<Repriced, NodeError> {
        let current = Fees {
            max_fee_per_gas: signed.max_fee_per_gas,
            max_priority_fee_per_gas: signed.max_priority_fee_per_gas,
        };
        let bid = match replacement_fees(current, market, self.fees) {
            Replacement::Bid(bid) => bid,
            Replacement::CapReached { needed, cap } => {
                return Ok(Repriced::CapReached { needed, cap });
            }
        };
        let (max_fee, priority) = (bid.max_fee_per_gas, bid.max_priority_fee_per_gas);
        let unsigned = eip1559(
            self.chain_id,
            signed.nonce,
            signed.to,
            signed.gas_limit,
            bid,
            tx.data.clone(),
        );
        // Signed by the key of the transaction's lane: the one that took the nonce.
        let key = self
            .keys
            .key_for(signed.from)
            .await
            .map_err(|e| crate::lane_key_trouble(tx, signed.from, &e))?;
        let signature = key
            .sign(unsigned)
            .await
            .map_err(|e| NodeError::Unavailable(format!("re-signing: {e}")))?;
        let replacement = SignedTx {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            hash: signature.hash,
            raw: signature.raw,
            ..signed.clone()
        };
        match self
            .store
            .record_replacement(tx.id, signed.hash, &replacement)
            .await
        {
            Ok(()) => {}
            // Another invocation replaced it first: theirs stands.
            Err(StoreError::Conflict { .. }) => return Ok(Repriced::Superseded),
            Err(e) => return Err(NodeError::Unavailable(e.to_string())),
        }
        tracing::warn!(old = %signed.hash, new = %replacement.hash, max_fee, priority, base_fee = market.base_fee, "re-priced at the same nonce");
        match self.node.send_raw(&replacement.raw).await {
            Ok(_) | Err(NodeError::AlreadyKnown) => {}
            // The next check sends it again.
            Err(e) => tracing::warn!(error = %e, "sending the replacement failed"),
        }
        Ok(Repriced::Sent(replacement))
    }

    pub(crate) async fn finalize(
        &self,
        tx: &Transaction,
        inclusion: Inclusion,
        hash: B256,
    ) -> Result<Outcome, RetryLater> {
        let status = if inclusion.succeeded {
            Status::Confirmed
        } else {
            Status::Reverted
        };
        match self.store.record_inclusion(tx.id, inclusion, hash).await {
            Ok(()) => {
                tracing::info!(%status, block = inclusion.block_number, tx_hash = %hash, "final")
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(RetryLater::new(e.to_string())),
        }
        Ok(Outcome::Final(status))
    }
}
