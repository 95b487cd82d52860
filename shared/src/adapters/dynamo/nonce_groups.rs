//! Group commit of a lane's nonce reservations. The reservations of one process waiting for the
//! same counter are written together: one conditional write moves the counter past all of them
//! and assigns each its nonce, instead of one write (and, under contention, one lost race) per
//! record. While a group is being written the next one gathers; a lane with nothing in flight
//! writes a lone reservation at once, so grouping never adds a wait.
//!
//! Only the bookkeeping lives here: who waits, and who writes next (exactly one writer per lane
//! at a time). The writes are in `nonce.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::domain::TxId;
use crate::ports::{Account, LeaseToken, NonceReservation, StoreError};

/// At most this many reservations per write: a transactional write takes 100 items, one of
/// them the counter.
pub(super) const MAX_GROUP: usize = 99;

/// One record waiting for its nonce.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) id: TxId,
    pub(super) token: LeaseToken,
    /// Its caller stops waiting then, with an error; a reservation not written by then is
    /// dropped from its group.
    pub(super) deadline: Instant,
    pub(super) reply: oneshot::Sender<Result<NonceReservation, StoreError>>,
}

impl Pending {
    /// Whether its caller still waits for the answer.
    pub(super) fn wanted(&self) -> bool {
        !self.reply.is_closed() && Instant::now() < self.deadline
    }

    pub(super) fn answer(self, result: Result<NonceReservation, StoreError>) {
        // The caller may have given up meanwhile; the table holds the truth either way.
        let _ = self.reply.send(result);
    }
}

#[derive(Debug, Default)]
struct Lane {
    waiting: Vec<Pending>,
    /// A writer is at work on this lane (it takes what waits when its write is done).
    writing: bool,
}

/// Every lane's waiting reservations, in one process.
#[derive(Debug, Default)]
pub(super) struct NonceGroups {
    lanes: Mutex<HashMap<Account, Lane>>,
}

impl NonceGroups {
    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<Account, Lane>> {
        // Every change under the lock is whole: a panic elsewhere leaves it consistent.
        self.lanes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues a reservation. True if no writer is at work on the lane: the caller must start
    /// one (and it is counted as started).
    pub(super) fn join(&self, account: Account, pending: Pending) -> bool {
        let mut lanes = self.lanes();
        let lane = lanes.entry(account).or_default();
        lane.waiting.push(pending);
        !std::mem::replace(&mut lane.writing, true)
    }

    /// For the lane's writer: the next group, oldest first, at most [`MAX_GROUP`], without the
    /// reservations nobody waits for any more. Empty when none is left: the writer stops, and
    /// the next reservation starts another.
    pub(super) fn next_group(&self, account: Account) -> Vec<Pending> {
        let mut lanes = self.lanes();
        let Some(lane) = lanes.get_mut(&account) else {
            return Vec::new();
        };
        lane.waiting.retain(Pending::wanted);
        if lane.waiting.is_empty() {
            lanes.remove(&account);
            return Vec::new();
        }
        let take = lane.waiting.len().min(MAX_GROUP);
        lane.waiting.drain(..take).collect()
    }

    /// The lane's writer's guard: unless finished, its drop (a panic in the writer, a runtime
    /// shutting down) clears the lane: the reservations waiting are dropped, their callers told
    /// the writer stopped, and the next reservation starts a writer instead of waiting for one
    /// that is gone.
    pub(super) fn writing(&self, account: Account) -> Writing<'_> {
        Writing {
            groups: self,
            account,
            finished: false,
        }
    }

    /// Marks the lane written without a writer (a test's stand-in for a writer that hangs).
    #[cfg(test)]
    pub(super) fn hold(&self, account: Account) {
        self.lanes().entry(account).or_default().writing = true;
    }
}

/// See [`NonceGroups::writing`].
pub(super) struct Writing<'a> {
    groups: &'a NonceGroups,
    account: Account,
    finished: bool,
}

impl Writing<'_> {
    /// The writer found nothing left ([`NonceGroups::next_group`] cleared the lane).
    pub(super) fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if !self.finished {
            // Only this writer works on the lane while it lives: nobody else's state is lost.
            self.groups.lanes().remove(&self.account);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use alloy::primitives::Address;

    use super::*;

    fn account(byte: u8) -> Account {
        Account {
            chain_id: 1,
            address: Address::repeat_byte(byte),
        }
    }

    fn pending(
        within: Duration,
    ) -> (
        Pending,
        oneshot::Receiver<Result<NonceReservation, StoreError>>,
    ) {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            id: TxId::generate(),
            token: LeaseToken("t".into()),
            deadline: Instant::now() + within,
            reply,
        };
        (pending, answer)
    }

    #[tokio::test(start_paused = true)]
    async fn one_writer_per_lane_takes_what_gathered_while_it_wrote() {
        let groups = NonceGroups::default();
        let minute = Duration::from_secs(60);
        let (first, _a) = pending(minute);
        assert!(
            groups.join(account(1), first),
            "nobody writes: start a writer"
        );
        let (second, _b) = pending(minute);
        let (third, _c) = pending(minute);
        assert!(!groups.join(account(1), second), "a writer is at work");
        assert!(!groups.join(account(1), third));
        // Another lane is written by its own writer.
        let (other, _d) = pending(minute);
        assert!(groups.join(account(2), other));
        assert_eq!(
            groups.next_group(account(1)).len(),
            3,
            "all three, in one write"
        );
        assert!(
            groups.next_group(account(1)).is_empty(),
            "then the writer stops"
        );
        let (later, _e) = pending(minute);
        assert!(
            groups.join(account(1), later),
            "and the next reservation starts one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_that_stops_unfinished_lets_the_next_reservation_start_one() {
        let groups = NonceGroups::default();
        let minute = Duration::from_secs(60);
        let (first, _first) = pending(minute);
        assert!(groups.join(account(1), first));
        let (waiting, mut waiting_answer) = pending(minute);
        assert!(!groups.join(account(1), waiting));
        // The writer dies (a panic) before finishing: its guard drops unfinished.
        drop(groups.writing(account(1)));
        assert!(
            matches!(
                waiting_answer.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ),
            "the waiting caller is told at once"
        );
        let (next, _next) = pending(minute);
        assert!(groups.join(account(1), next), "a new writer starts");
        // A writer that finishes leaves the lane to the next one untouched.
        assert_eq!(groups.next_group(account(1)).len(), 1);
        assert!(groups.next_group(account(1)).is_empty());
        let (after, _after) = pending(minute);
        assert!(groups.join(account(1), after));
        drop(groups.writing(account(2)));
        assert_eq!(
            groups.next_group(account(1)).len(),
            1,
            "another lane's guard touched nothing"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_is_at_most_one_write_and_leaves_out_whom_nobody_waits_for() {
        let groups = NonceGroups::default();
        let mut answers = Vec::new();
        for _ in 0..(MAX_GROUP + 5) {
            let (p, a) = pending(Duration::from_secs(60));
            groups.join(account(1), p);
            answers.push(a);
        }
        // One caller gave up, another's deadline passes.
        drop(answers.remove(0));
        let (late, _late) = pending(Duration::from_millis(10));
        groups.join(account(1), late);
        tokio::time::advance(Duration::from_millis(20)).await;
        assert_eq!(groups.next_group(account(1)).len(), MAX_GROUP);
        assert_eq!(
            groups.next_group(account(1)).len(),
            4,
            "the rest, without those two"
        );
        assert!(groups.next_group(account(1)).is_empty());
    }
}
