//! Every store role in memory, with the DynamoDB adapter's conditional semantics: a stale
//! transition is refused with the same [`StoreError::Conflict`], a lost lease the same way, and
//! a listing pages the same way. One contract suite (`tests/store_contract.rs`) runs against both,
//! so fast unit tests of the handlers' decisions can't drift from what DynamoDB does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use time::OffsetDateTime;

use crate::auth::ClientId;
use crate::domain::{HistoryEntry, NewTransaction, SignedTx, Status, Transaction, TxId};
use crate::ports::{
    Account, Claim, CountScope, CounterState, Inserted, Intake, LeaseToken, ListQuery,
    NonceCounter, NonceReservation, Page, Reading, SigningLease, StatusCounts, StoreError,
};

mod transitions;
mod webhooks;

/// A transaction and what DynamoDB keeps beside it on the same item.
#[derive(Debug, Clone)]
struct Stored {
    tx: Transaction,
    lease: Option<(LeaseToken, OffsetDateTime)>,
    dead_letter_message_id: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    txs: BTreeMap<TxId, Stored>,
    /// `(client, key)` → the transaction it created and the request's fingerprint.
    idempotency: HashMap<(Option<ClientId>, String), (TxId, B256)>,
    nonces: HashMap<(u64, Address), CounterState>,
    nodes: HashMap<u64, (Vec<crate::ports::NodeHealth>, OffsetDateTime)>,
    /// `(chain, minute)` → the pipeline's progress then.
    progress: BTreeMap<(u64, i64), crate::ports::MinuteProgress>,
    /// A client's webhook endpoints.
    webhooks: HashMap<ClientId, crate::webhooks::Registry>,
    /// A transaction's webhook events and attempts.
    hook_logs: HashMap<TxId, webhooks::HookLog>,
}

/// The in-memory twin of [`crate::adapters::dynamo::DynamoStore`]. A clone is the same table
/// (as two `DynamoStore`s on one table are), for the parts of several chains.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    state: std::sync::Arc<Mutex<State>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a bug in this file; the data is
        // still consistent (every change is applied whole), so carry on with it.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `change` to a transaction if `allowed` holds; `Ok(false)` if it does not, and
    /// `NotFound` if there is no such transaction.
    fn apply(
        &self,
        id: TxId,
        allowed: impl FnOnce(&Stored) -> bool,
        change: impl FnOnce(&mut Stored),
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let stored = state.txs.get_mut(&id).ok_or(StoreError::NotFound(id))?;
        if !allowed(stored) {
            return Ok(false);
        }
        change(stored);
        stored.tx.updated_at = OffsetDateTime::now_utc();
        Ok(true)
    }

    /// A move to `to` from the statuses the machine allows (narrowed by `only_from`), with an
    /// extra guard; a lost condition is a conflict, as in DynamoDB.
    fn advance(
        &self,
        id: TxId,
        to: Status,
        only_from: Option<&[Status]>,
        guard: impl FnOnce(&Stored) -> bool,
        change: impl FnOnce(&mut Stored),
    ) -> Result<(), StoreError> {
        let sources = Status::sources_of(to);
        let applied = self.apply(
            id,
            |s| {
                sources.contains(&s.tx.status)
                    && only_from.is_none_or(|only| only.contains(&s.tx.status))
                    && guard(s)
            },
            |s| {
                // The change sees the status it moves from.
                change(s);
                s.tx.status = to;
            },
        );
        conflict_unless(applied, id, to)
    }
}

/// An [`MemoryStore::apply`] whose condition did not hold (or whose transaction is gone)
/// reported as DynamoDB's adapter reports it: a lost race towards `to`.
fn conflict_unless(
    applied: Result<bool, StoreError>,
    id: TxId,
    to: Status,
) -> Result<(), StoreError> {
    match applied {
        Ok(true) => Ok(()),
        Ok(false) | Err(StoreError::NotFound(_)) => Err(StoreError::Conflict { id, to }),
        Err(e) => Err(e),
    }
}

fn log(stored: &mut Stored, entry: HistoryEntry) {
    stored.tx.history.push(redacted(entry));
}

/// Details are shown to readers: scrubbed as the DynamoDB adapter stores them.
fn redacted(mut entry: HistoryEntry) -> HistoryEntry {
    entry.detail = entry.detail.map(|d| crate::redact::scrub(&d));
    entry
}

fn unsigned(stored: &mut Stored) {
    let tx = &mut stored.tx;
    tx.nonce = None;
    tx.from = None;
    tx.signed = None;
    tx.inclusion = None;
    stored.lease = None;
}

impl Intake for MemoryStore {
    async fn insert_new(&self, new: &NewTransaction) -> Result<Inserted, StoreError> {
        let tx = Transaction::received(new);
        let mut state = self.state();
        if state.txs.contains_key(&new.id) {
            return Err(StoreError::Unavailable(format!(
                "transaction id {} already exists",
                new.id
            )));
        }
        if let Some(idempotency) = &new.idempotency {
            let key = (Some(new.client.clone()), idempotency.key.clone());
            if let Some((existing, fingerprint)) = state.idempotency.get(&key).copied() {
                if fingerprint != idempotency.request_fingerprint {
                    return Err(StoreError::IdempotencyConflict { existing });
                }
                return match state.txs.get(&existing) {
                    Some(stored) => Ok(Inserted::Duplicate(stored.tx.clone())),
                    None => Err(StoreError::Unavailable(
                        "the transaction of this idempotency key is being removed; retry".into(),
                    )),
                };
            }
            state
                .idempotency
                .insert(key, (new.id, idempotency.request_fingerprint));
        }
        state.txs.insert(
            new.id,
            Stored {
                tx: tx.clone(),
                lease: None,
                dead_letter_message_id: None,
            },
        );
        Ok(Inserted::Created(tx))
    }

    async fn discard_unpublished(&self, tx: &Transaction) -> Result<bool, StoreError> {
        let mut state = self.state();
        let untouched = state.txs.get(&tx.id).is_some_and(|s| {
            s.tx.status == Status::Received && s.tx.nonce.is_none() && s.lease.is_none()
        });
        let key = tx
            .idempotency_key
            .as_ref()
            .map(|key| (tx.client.clone(), key.clone()));
        let key_is_its = key
            .as_ref()
            .is_none_or(|k| state.idempotency.get(k).is_some_and(|(id, _)| *id == tx.id));
        if !untouched || !key_is_its {
            return Ok(false);
        }
        state.txs.remove(&tx.id);
        if let Some(key) = key {
            state.idempotency.remove(&key);
        }
        Ok(true)
    }
}

impl Reading for MemoryStore {
    async fn get(&self, id: TxId) -> Result<Option<Transaction>, StoreError> {
        Ok(self.state().txs.get(&id).map(|s| s.tx.clone()))
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let state = self.state();
        let start: Option<TxId> = query
            .cursor
            .as_deref()
            .map(|cursor| {
                cursor.parse().map_err(|_| {
                    StoreError::InvalidCursor("not a cursor issued by this API".into())
                })
            })
            .transpose()?;
        let in_range = |tx: &Transaction| {
            query.from.is_none_or(|from| tx.created_at >= from)
                && query.to.is_none_or(|to| tx.created_at <= to)
        };
        let matching: Vec<&Transaction> = state
            .txs
            .values()
            .rev()
            .map(|s| &s.tx)
            .filter(|tx| start.is_none_or(|after| tx.id < after))
            .filter(|tx| query.client.is_none() || tx.client == query.client)
            .filter(|tx| query.status.is_none_or(|status| tx.status == status))
            .filter(|tx| {
                query
                    .function_signature
                    .as_ref()
                    .is_none_or(|sig| tx.function_signature == *sig)
            })
            .filter(|tx| {
                query
                    .tx_hash
                    .is_none_or(|hash| tx.signed.as_ref().is_some_and(|s| s.hash == hash))
            })
            .filter(|tx| query.chain_id.is_none_or(|chain| tx.chain_id == chain))
            .filter(|tx| query.lane.is_none_or(|lane| tx.from == Some(lane)))
            .filter(|tx| in_range(tx))
            .collect();
        let limit = query.limit.clamp(1, 1000) as usize;
        let items: Vec<Transaction> = matching
            .iter()
            .take(limit)
            .map(|tx| (*tx).clone())
            .collect();
        let next_cursor = (matching.len() > limit)
            .then(|| items.last().map(|tx| tx.id.to_string()))
            .flatten();
        Ok(Page { items, next_cursor })
    }

    async fn count_by_status(
        &self,
        cap: u64,
        scope: CountScope<'_>,
    ) -> Result<StatusCounts, StoreError> {
        let state = self.state();
        let mut capped = false;
        let counts = Status::ALL
            .iter()
            .map(|status| {
                let n = state
                    .txs
                    .values()
                    .filter(|s| s.tx.status == *status)
                    .filter(|s| scope.client.is_none_or(|c| s.tx.client.as_ref() == Some(c)))
                    .filter(|s| scope.chain_id.is_none_or(|chain| s.tx.chain_id == chain))
                    .count() as u64;
                capped |= n > cap;
                (*status, n.min(cap.max(n)))
            })
            .collect();
        Ok(StatusCounts { counts, capped })
    }

    async fn list_overdue(
        &self,
        status: Status,
        due_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Transaction>, StoreError> {
        Ok(self
            .state()
            .txs
            .values()
            .rev()
            .map(|s| &s.tx)
            .filter(|tx| tx.status == status)
            .filter(|tx| match tx.next_attempt_at {
                Some(due) => due < due_before,
                None => tx.updated_at < due_before,
            })
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

impl SigningLease for MemoryStore {
    async fn claim_for_signing(&self, id: TxId, lease: Duration) -> Result<Claim, StoreError> {
        let now = OffsetDateTime::now_utc();
        let token = LeaseToken(format!("{:032x}", rand::random::<u128>()));
        let mut state = self.state();
        let Some(stored) = state.txs.get_mut(&id) else {
            return Ok(Claim::Missing);
        };
        let claimable = matches!(stored.tx.status, Status::Received | Status::Retrying)
            && stored.tx.signed.is_none();
        if !claimable {
            return Ok(Claim::AlreadySigned(stored.tx.clone()));
        }
        if stored
            .lease
            .as_ref()
            .is_some_and(|(_, until)| *until >= now)
        {
            return Ok(Claim::Held);
        }
        stored.lease = Some((token.clone(), now + lease));
        stored.tx.updated_at = now;
        Ok(Claim::Granted {
            tx: stored.tx.clone(),
            token,
        })
    }

    async fn release_claim(&self, id: TxId, token: &LeaseToken) -> Result<(), StoreError> {
        let mut state = self.state();
        if let Some(stored) = state.txs.get_mut(&id)
            && stored.lease.as_ref().is_some_and(|(held, _)| held == token)
        {
            stored.lease = None;
        }
        Ok(())
    }

    async fn record_signed(
        &self,
        id: TxId,
        token: &LeaseToken,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        self.advance(
            id,
            Status::Signed,
            None,
            |s| {
                s.lease.as_ref().is_some_and(|(held, _)| held == token)
                    && s.tx.nonce == Some(signed.nonce)
                    && s.tx.signed.is_none()
            },
            |s| {
                s.tx.signed = Some(signed.clone());
                s.tx.from = Some(signed.from);
                s.tx.next_attempt_at = None;
                s.lease = None;
                log(s, HistoryEntry::signed_as(signed));
            },
        )
    }
}

impl NonceCounter for MemoryStore {
    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> Result<NonceReservation, StoreError> {
        let mut state = self.state();
        let Some(next) = state
            .nonces
            .get(&(account.chain_id, account.address))
            .map(|c| c.next)
        else {
            return Ok(NonceReservation::Uninitialized);
        };
        let ours = state.txs.get(&id).is_some_and(|s| {
            matches!(s.tx.status, Status::Received | Status::Retrying)
                && s.lease.as_ref().is_some_and(|(held, _)| held == token)
                && s.tx.nonce.is_none()
        });
        if !ours {
            return Err(StoreError::Conflict {
                id,
                to: Status::Signed,
            });
        }
        let before = state.nonces.get(&(account.chain_id, account.address));
        let indexed_from = before.and_then(|c| c.indexed_from).unwrap_or(next);
        let lane = before.and_then(|c| c.lane);
        state.nonces.insert(
            (account.chain_id, account.address),
            CounterState {
                next: next + 1,
                reserved_at: Some(OffsetDateTime::now_utc()),
                indexed_from: Some(indexed_from),
                lane,
            },
        );
        if let Some(stored) = state.txs.get_mut(&id) {
            stored.tx.nonce = Some(next);
            stored.tx.from = Some(account.address);
            stored.tx.updated_at = OffsetDateTime::now_utc();
        }
        Ok(NonceReservation::Assigned(next))
    }

    async fn seed_nonce(&self, account: Account, next: u64) -> Result<(), StoreError> {
        self.state()
            .nonces
            .entry((account.chain_id, account.address))
            .or_insert(CounterState {
                next,
                reserved_at: None,
                indexed_from: None,
                lane: None,
            });
        Ok(())
    }

    async fn resync_nonce(
        &self,
        account: Account,
        chain_next: u64,
    ) -> Result<Option<u64>, StoreError> {
        let mut state = self.state();
        match state.nonces.get_mut(&(account.chain_id, account.address)) {
            Some(counter) if counter.next < chain_next => {
                let was = counter.next;
                counter.next = chain_next;
                Ok(Some(was))
            }
            _ => Ok(None),
        }
    }

    async fn nonce_counter(&self, account: Account) -> Result<Option<CounterState>, StoreError> {
        Ok(self
            .state()
            .nonces
            .get(&(account.chain_id, account.address))
            .copied())
    }

    async fn rewind_nonce(&self, account: Account, from: u64, to: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        match state.nonces.get_mut(&(account.chain_id, account.address)) {
            Some(counter) if counter.next == from => {
                counter.next = to;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn nonce_holders(
        &self,
        account: Account,
        from: u64,
        limit: u32,
    ) -> Result<Vec<Transaction>, StoreError> {
        let mut holders: Vec<Transaction> = self
            .state()
            .txs
            .values()
            .filter(|s| {
                s.tx.chain_id == account.chain_id
                    && s.tx.from == Some(account.address)
                    && s.tx.nonce.is_some_and(|n| n >= from)
            })
            .map(|s| s.tx.clone())
            .collect();
        holders.sort_by_key(|tx| tx.nonce);
        holders.truncate(limit as usize);
        Ok(holders)
    }

    async fn report_lane(
        &self,
        account: Account,
        report: &crate::lanes::LaneReport,
    ) -> Result<(), StoreError> {
        if let Some(counter) = self
            .state()
            .nonces
            .get_mut(&(account.chain_id, account.address))
            && counter.lane.is_none_or(|kept| kept.at < report.at)
        {
            counter.lane = Some(*report);
        }
        Ok(())
    }
}

impl crate::ports::ProgressLog for MemoryStore {
    async fn add_progress(
        &self,
        chain_id: u64,
        minute: i64,
        step: &crate::ports::MinuteProgress,
    ) -> Result<(), StoreError> {
        // As DynamoDB: nothing to add writes nothing.
        if step.counts.is_empty() && step.seconds.is_empty() {
            return Ok(());
        }
        let mut state = self.state();
        let kept = state.progress.entry((chain_id, minute)).or_default();
        for (name, count) in &step.counts {
            *kept.counts.entry(name.clone()).or_default() += count;
        }
        for (name, (sum, count)) in &step.seconds {
            let entry = kept.seconds.entry(name.clone()).or_default();
            *entry = (entry.0 + sum, entry.1 + count);
        }
        Ok(())
    }

    async fn progress(
        &self,
        chain_id: u64,
        minutes: std::ops::Range<i64>,
    ) -> Result<Vec<(i64, crate::ports::MinuteProgress)>, StoreError> {
        let window = crate::ports::progress_window(minutes);
        if window.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .state()
            .progress
            .range((chain_id, window.start)..(chain_id, window.end))
            .map(|((_, minute), step)| (*minute, step.clone()))
            .collect())
    }
}

impl crate::ports::NodesHealth for MemoryStore {
    async fn report_nodes(
        &self,
        chain_id: u64,
        nodes: &[crate::ports::NodeHealth],
    ) -> Result<(), StoreError> {
        self.state()
            .nodes
            .insert(chain_id, (nodes.to_vec(), OffsetDateTime::now_utc()));
        Ok(())
    }

    async fn nodes_health(
        &self,
        chain_id: u64,
    ) -> Result<Option<(Vec<crate::ports::NodeHealth>, OffsetDateTime)>, StoreError> {
        Ok(self.state().nodes.get(&chain_id).cloned())
    }
}
