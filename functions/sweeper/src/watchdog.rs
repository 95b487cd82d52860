//! The nonce watchdog: on the sweeper's schedule, the signing key's nonces as the chain sees
//! them, against what the table holds. No sequence of events may leave the account stalled
//! without a repair or an alarm.
//!
//! With `mined` the chain's next nonce, `pending` the node's (mined plus its pool), `counter`
//! the table's next nonce and the *holders* the transactions holding a nonce at or above
//! `mined` (the `by_nonce` index):
//! - a counter behind `pending` (another sender used the key) is raised to it;
//! - a final holder (`confirmed`, `reverted`) is not on chain any more, since its nonce is not
//!   mined, unless the node still has its receipt (a lagging backend): it was reorganised
//!   away, and goes back to the broadcaster, which re-sends its bytes;
//! - a counter ahead of the chain with no holder at all between (a reorganisation took them,
//!   or fillers were lost) is rewound to `mined`;
//! - a nonce between `mined` and the counter that nobody holds and the pool lacks is a hole:
//!   it is filled with a zero-value self-transfer;
//! - the nonce the chain waits for, held by a transaction under review or by one that has not
//!   been mined [`STUCK_AFTER`] after it was signed, or a hole that could not be filled, is a
//!   stall: the `NonceStalled` metric (alarmed in `infra/alarms.tf`) calls a human.
//!
//! Nothing is decided on a counter that took a nonce within `settle` (the index may not show
//! its holder yet), nor below the first nonce taken since holders are indexed.

use std::time::Duration;

use alloy::primitives::Address;
use serde::Serialize;
use time::OffsetDateTime;
use tx_shared::domain::{Event, HistoryEntry, Status, Transaction, TxId, TxMessage};
use tx_shared::lanes::{KeyPool, LaneReport, LaneState};
use tx_shared::nonce_filler::{Fill, fill_nonce};
use tx_shared::ports::{
    Account, BroadcastQueue, ChainNode, Lookup, NodeError, NodesHealth, NonceCounter, StoreError,
    TransactionSigner, Transitions,
};

/// A transaction at the chain's next nonce whose attempt was signed this long ago is stuck.
pub const STUCK_AFTER: Duration = Duration::from_secs(15 * 60);

/// Node requests one repair makes at most (a filler: mined nonce 1, estimate and fees 2,
/// send 1, and a node's chain check at its first use 1), after the budget for starting
/// repairs: what the Lambda timeout must hold (`infra/main.tf`, checked by infra-check).
pub const NODE_CALLS_PER_REPAIR: u64 = 5;

/// At most this many fillers per watch: each is two node calls.
const MAX_FILLS: usize = 4;

pub struct Watchdog<S, Q, N, K> {
    pub store: S,
    /// The broadcaster's queue: a reorganised transaction is followed again.
    pub to_broadcaster: Q,
    pub node: N,
    /// Every lane's key: each lane is watched, and its holes filled with its own key.
    pub keys: KeyPool<K>,
    pub chain_id: u64,
    /// Below this balance a lane can't pay for one transaction at the caps: it is reported
    /// underfunded, and takes no new work.
    pub min_balance_wei: u128,
    /// A counter moved more recently than this may have holders the index does not show yet.
    pub settle: Duration,
    /// How many nonces above the chain's one watch looks at.
    pub window: u32,
    /// No new repair starts after this long (each is a few node calls): what is left waits for
    /// the next run, inside the function's timeout.
    pub budget: Duration,
}

/// What one watch saw of one lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaneWatch {
    pub address: Address,
    pub state: LaneState,
    #[serde(flatten)]
    pub report: WatchReport,
}

/// Why the account needs a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Stall {
    /// A transaction under review holds the nonce the chain waits for.
    ReviewHoldsNextNonce { nonce: u64, transaction_id: TxId },
    /// The transaction at the chain's next nonce was signed [`STUCK_AFTER`] ago and is not
    /// mined.
    NextNonceStuck { nonce: u64, transaction_id: TxId },
    /// A hole could not be filled.
    HoleNotFilled { nonce: u64 },
}

impl Stall {
    pub fn code(&self) -> &'static str {
        match self {
            Stall::ReviewHoldsNextNonce { .. } => "review_holds_next_nonce",
            Stall::NextNonceStuck { .. } => "next_nonce_stuck",
            Stall::HoleNotFilled { .. } => "hole_not_filled",
        }
    }

    fn nonce(&self) -> u64 {
        match self {
            Stall::ReviewHoldsNextNonce { nonce, .. }
            | Stall::NextNonceStuck { nonce, .. }
            | Stall::HoleNotFilled { nonce } => *nonce,
        }
    }
}

/// What one watch saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchReport {
    pub mined: u64,
    pub pending: u64,
    /// The table's counter, before any repair (`None`: the key never signed).
    pub counter: Option<u64>,
    /// The counter was behind the chain and raised from this value.
    pub resynced_from: Option<u64>,
    /// The counter was ahead of the chain with nothing between, and rewound from this value.
    pub rewound_from: Option<u64>,
    pub filled: Vec<u64>,
    pub reorged: Vec<TxId>,
    pub stall: Option<Stall>,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the key: {0}")]
    Key(#[from] tx_shared::ports::SignError),
}

impl<S, Q, N, K> Watchdog<S, Q, N, K>
where
    S: NonceCounter + Transitions + NodesHealth,
    Q: BroadcastQueue,
    N: ChainNode,
    K: TransactionSigner,
{
    /// Watches every lane at once; each lane's view is kept beside its counter (for the
    /// signer's choice of lane). Every lane is watched even if one fails (a key that can't be
    /// read, a node or table error); the first failure is returned after, and fails the run
    /// (its alarm).
    pub async fn watch(&self) -> Result<Vec<LaneWatch>, WatchError> {
        let started = std::time::Instant::now();
        let addresses = self.keys.addresses().await;
        let (watches, nodes) = tokio::join!(
            futures::future::join_all(self.keys.keys().iter().zip(addresses).enumerate().map(
                |(lane, (key, address))| async move {
                    match address {
                        Some(address) => self.watch_lane(lane, key, address, started).await,
                        None => Err(WatchError::Key(tx_shared::ports::SignError::Unavailable(
                            format!("lane {}'s key can't be read: it is not watched", lane + 1),
                        ))),
                    }
                }
            ),),
            self.node.probe()
        );
        // The nodes as probed now, for `/health`: best effort, the lanes matter more.
        if let Err(e) = self.store.report_nodes(self.chain_id, &nodes).await {
            tracing::warn!(error = %e, "could not note the nodes' health");
        }
        watches.into_iter().collect()
    }

    async fn watch_lane(
        &self,
        lane: usize,
        key: &K,
        address: Address,
        started: std::time::Instant,
    ) -> Result<LaneWatch, WatchError> {
        // When this view was taken: a report written late must not pass for a newer one.
        let observed = OffsetDateTime::now_utc();
        // The balance first, whatever the repairs do: every minute, idle or not, it is the
        // lane's balance alarm.
        let balance = self.node.balance(address).await;
        if let Ok(wei) = balance {
            tx_shared::metrics::signer_balance(self.chain_id, lane, address, wei);
        }
        let report = self.watch_account(lane, key, address, started).await?;
        let balance_wei = balance?;
        let state = if report.stall.is_some() {
            LaneState::Stalled
        } else if balance_wei < self.min_balance_wei {
            tracing::error!(lane = %address, balance_wei, min_balance_wei = self.min_balance_wei, "the lane can't pay for a transaction at the caps; it takes no new work until funded");
            LaneState::Underfunded
        } else {
            LaneState::Ok
        };
        if state != LaneState::Ok {
            tx_shared::metrics::lane_paused(self.chain_id, lane, address, state.as_str());
        }
        let account = Account {
            chain_id: self.chain_id,
            address,
        };
        let view = LaneReport {
            mined: report.mined,
            state,
            balance_wei,
            at: observed,
        };
        // Best effort: without it the signer weighs the lane by an older view, for a minute.
        if let Err(e) = self.store.report_lane(account, &view).await {
            tracing::warn!(lane = %address, error = %e, "could not keep the lane's view");
        }
        Ok(LaneWatch {
            address,
            state,
            report,
        })
    }

    async fn watch_account(
        &self,
        lane: usize,
        key: &K,
        address: Address,
        started: std::time::Instant,
    ) -> Result<WatchReport, WatchError> {
        let in_budget = || started.elapsed() < self.budget;
        let account = Account {
            chain_id: self.chain_id,
            address,
        };
        // One node for every read of the watch: of a pool, a node behind could otherwise
        // deny the receipts of nonces another node reports mined.
        let node = self.node.one();
        let (mined, pending) =
            tokio::try_join!(node.mined_nonce(address), node.pending_nonce(address))?;
        let mut report = WatchReport {
            mined,
            pending,
            ..WatchReport::default()
        };
        let Some(counter) = self.store.nonce_counter(account).await? else {
            // A lane that never signed: its counter is seeded from the chain, as the signer
            // would, so its state (funded or not) can be kept beside it before it takes work.
            self.store.seed_nonce(account, pending).await?;
            return Ok(report);
        };
        report.counter = Some(counter.next);
        let mut next = counter.next;
        if next < pending {
            if let Some(was) = self.store.resync_nonce(account, pending).await? {
                tracing::warn!(was, now = pending, "nonce counter behind the chain; raised");
                report.resynced_from = Some(was);
            }
            next = pending;
        }
        let holders = self
            .store
            .nonce_holders(account, mined, self.window)
            .await?;
        let finals: Vec<&Transaction> = holders.iter().filter(|h| h.status.is_final()).collect();
        if !finals.is_empty() {
            // One head for the whole watch: the question is whether the node reached each
            // holder's block, not where the chain is this very instant.
            let head = node.block_number().await?;
            for holder in finals {
                if !in_budget() {
                    break;
                }
                if self.reorged(&node, holder, mined, head).await? {
                    report.reorged.push(holder.id);
                }
            }
        }
        // Only nonces taken since holders are indexed can be judged by the index; and none
        // while a nonce was taken a moment ago (the index may not show its holder yet).
        let settled = counter
            .reserved_at
            .is_some_and(|at| OffsetDateTime::now_utc() - at >= self.settle);
        let indexed = counter.indexed_from.is_some_and(|from| from <= mined);
        if settled && indexed && next > mined && report.resynced_from.is_none() {
            // Nobody between, not even a transaction under review: nonces stay unique in the
            // table too.
            let between = holders.iter().any(|h| h.nonce.is_some_and(|n| n < next));
            if !between && pending <= mined {
                if self.store.rewind_nonce(account, next, mined).await? {
                    tracing::warn!(
                        from = next,
                        to = mined,
                        "nonce counter ahead of the chain with nothing between; rewound"
                    );
                    report.rewound_from = Some(next);
                }
            } else {
                self.fill_holes(
                    key,
                    &holders,
                    (mined, pending, next),
                    &in_budget,
                    &mut report,
                )
                .await;
            }
        }
        if report.stall.is_none() {
            report.stall = self.stall_at(&holders, (mined, pending, next), settled, &report);
        }
        if let Some(stall) = &report.stall {
            tracing::error!(?stall, "the signing account is stalled; a human must act");
            tx_shared::metrics::nonce_stalled(
                self.chain_id,
                lane,
                address,
                stall.nonce(),
                stall.code(),
            );
        }
        Ok(report)
    }

    /// A final transaction whose nonce the chain has not mined: followed again, unless the
    /// node still knows one of its hashes (its nonce view lags, or the transaction is back
    /// in the pool) or has not reached the block that included it (a lagging backend).
    async fn reorged(
        &self,
        node: &impl ChainNode,
        tx: &Transaction,
        mined: u64,
        head: u64,
    ) -> Result<bool, WatchError> {
        let (Some(nonce), Some(_)) = (tx.nonce, tx.signed.as_ref()) else {
            return Ok(false);
        };
        if tx.inclusion.is_some_and(|i| head < i.block_number) {
            return Ok(false);
        }
        for hash in tx.attempt_hashes() {
            if !matches!(node.lookup(hash).await?, Lookup::Unknown) {
                return Ok(false);
            }
        }
        match self.store.record_reorged(tx.id, nonce, mined).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        tracing::warn!(transaction_id = %tx.id, nonce, mined, "reorganised away; followed again");
        let message = TxMessage::of(tx);
        if let Err(e) = self.to_broadcaster.enqueue(&message, Duration::ZERO).await {
            // `broadcast` and due now: the sweeper hands it to the broadcaster.
            tracing::warn!(transaction_id = %tx.id, error = %e, "could not hand it to the broadcaster; the sweeper will");
        }
        Ok(true)
    }

    /// Fills the nonces in `mined..next` that the pool lacks and no transaction can still send:
    /// nobody holds them, or a transaction under review that was never signed.
    async fn fill_holes(
        &self,
        key: &K,
        holders: &[Transaction],
        (mined, pending, next): (u64, u64, u64),
        in_budget: &impl Fn() -> bool,
        report: &mut WatchReport,
    ) {
        let holder = |n: u64| holders.iter().find(|h| h.nonce == Some(n));
        let end = next.min(mined.saturating_add(u64::from(self.window)));
        let holes = (mined.max(pending)..end)
            .filter(|n| holder(*n).is_none_or(never_sent))
            .take(MAX_FILLS);
        for nonce in holes {
            if !in_budget() {
                return;
            }
            match fill_nonce(&self.node, key, self.chain_id, nonce).await {
                Ok(Fill::Sent(hash)) => {
                    tracing::warn!(nonce, filler = %hash, "filled a nonce no transaction can send");
                    report.filled.push(nonce);
                    if let Some(tx) = holder(nonce) {
                        let entry = HistoryEntry::now(Event::NonceFilled).hash(hash).detail(
                            format!("nonce {nonce} consumed by a zero-value self-transfer (the watchdog)"),
                        );
                        if let Err(e) = self.store.record_event(tx.id, entry).await {
                            tracing::warn!(error = %e, "could not record the filler");
                        }
                    }
                }
                Ok(Fill::AlreadyUsed) => {}
                Err(e) => {
                    tracing::error!(nonce, error = %e, "could not fill a nonce no transaction can send");
                    report.stall = Some(Stall::HoleNotFilled { nonce });
                    return;
                }
            }
        }
    }

    /// What holds the nonce the chain waits for, if it needs a human.
    fn stall_at(
        &self,
        holders: &[Transaction],
        (mined, pending, next): (u64, u64, u64),
        settled: bool,
        report: &WatchReport,
    ) -> Option<Stall> {
        let Some(at_next) = holders.iter().find(|h| h.nonce == Some(mined)) else {
            // Nobody holds it, the pool lacks it, later nonces were taken, and this run did
            // not repair it: later transactions wait behind a hole.
            let hole = settled
                && next > mined
                && pending <= mined
                && !report.filled.contains(&mined)
                && report.rewound_from.is_none()
                && report.resynced_from.is_none();
            return hole.then_some(Stall::HoleNotFilled { nonce: mined });
        };
        if report.reorged.contains(&at_next.id) {
            return None;
        }
        match at_next.status {
            Status::NeedsReview if report.filled.contains(&mined) => None,
            Status::NeedsReview => Some(Stall::ReviewHoldsNextNonce {
                nonce: mined,
                transaction_id: at_next.id,
            }),
            // Since its attempt was signed: receipt checks touch it every few seconds.
            Status::Signed | Status::Broadcast | Status::Retrying
                if OffsetDateTime::now_utc() - attempt_started(at_next) > STUCK_AFTER =>
            {
                Some(Stall::NextNonceStuck {
                    nonce: mined,
                    transaction_id: at_next.id,
                })
            }
            _ => None,
        }
    }
}

/// Under review or reverted, and never signed: its nonce can't be sent from here.
fn never_sent(tx: &Transaction) -> bool {
    matches!(tx.status, Status::NeedsReview | Status::Reverted) && tx.signed.is_none()
}

/// When the transaction's current attempt was signed (its creation, if the history says
/// nothing).
fn attempt_started(tx: &Transaction) -> OffsetDateTime {
    tx.history
        .iter()
        .rev()
        .find(|e| e.event == Event::Signed)
        .map_or(tx.created_at, |e| e.at)
}

#[cfg(test)]
mod tests;
