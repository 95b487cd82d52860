//! Lanes: the keys that sign for a chain, each with its own address and so its own nonces.
//!
//! Nonces are serial per sender, and a node holds only a few pending transactions per sender:
//! one key carries only so much, and one stuck nonce holds everything behind it. With several
//! keys, a new transaction takes the lane with the fewest in flight, and a lane the nonce
//! watchdog reports stalled or underfunded takes no new work until it recovers. A transaction
//! keeps its lane for good: its replacements, fillers and re-sends are signed by the key that
//! took its nonce.

use alloy::primitives::Address;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use crate::ports::{SignError, TransactionSigner};

/// What the watchdog last saw of a lane (kept beside its nonce counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneReport {
    /// The chain's next nonce for the lane's address.
    pub mined: u64,
    pub state: LaneState,
    pub balance_wei: u128,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    Ok,
    /// The watchdog found the lane's next nonce stuck (`NonceStalled`).
    Stalled,
    /// The lane's balance can't pay for one transaction at the fee cap.
    Underfunded,
}

impl LaneState {
    pub fn as_str(self) -> &'static str {
        match self {
            LaneState::Ok => "ok",
            LaneState::Stalled => "stalled",
            LaneState::Underfunded => "underfunded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(LaneState::Ok),
            "stalled" => Some(LaneState::Stalled),
            "underfunded" => Some(LaneState::Underfunded),
            _ => None,
        }
    }
}

/// A report older than this says nothing of the lane now (the watchdog runs every minute).
pub const REPORT_FRESH_FOR: time::Duration = time::Duration::minutes(5);

/// A lane as the signer weighs it: its counter's next nonce and the watchdog's last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneView {
    pub address: Address,
    /// `None`: the lane never took a nonce.
    pub next: Option<u64>,
    pub report: Option<LaneReport>,
    /// Nonces the reader took on the lane since it read it.
    pub taken_since: u64,
}

impl LaneView {
    /// Nonces taken that the chain has not mined, as of the watchdog's report (an
    /// overestimate as the report ages, alike for every lane); before any report, the nonces
    /// the reader took since it read the lane.
    pub fn in_flight(&self) -> u64 {
        match (self.next, self.report) {
            (Some(next), Some(report)) => next.saturating_sub(report.mined),
            _ => self.taken_since,
        }
    }

    /// Whether a fresh report says the lane must take no new work now.
    pub fn paused_now(&self) -> bool {
        self.paused(OffsetDateTime::now_utc())
    }

    /// Whether a fresh report says the lane must take no new work.
    pub fn paused(&self, now: OffsetDateTime) -> bool {
        self.report
            .is_some_and(|r| r.state != LaneState::Ok && now - r.at < REPORT_FRESH_FOR)
    }
}

/// The lane a new transaction takes: among the open lanes (not paused), those the watchdog
/// has a fresh report of first (a lane it never reported may be new and unfunded), the one
/// with the fewest in flight, a tie broken at random so concurrent signers spread. `None`
/// when no lane is open: the caller decides whether to wait.
pub fn choose(views: &[LaneView]) -> Option<usize> {
    choose_at(views, OffsetDateTime::now_utc())
}

/// [`choose`] as of `now`.
pub fn choose_at(views: &[LaneView], now: OffsetDateTime) -> Option<usize> {
    let fresh = |v: &LaneView| v.report.is_some_and(|r| now - r.at < REPORT_FRESH_FOR);
    let open: Vec<usize> = (0..views.len())
        .filter(|&i| !views[i].paused(now))
        .collect();
    let reported: Vec<usize> = open.iter().copied().filter(|&i| fresh(&views[i])).collect();
    let candidates = if reported.is_empty() { open } else { reported };
    let least = candidates.iter().map(|&i| views[i].in_flight()).min()?;
    let tied: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| views[i].in_flight() == least)
        .collect();
    tied.get(rand::random_range(0..tied.len())).copied()
}

/// The keys of one chain, in their declared order (the first is the chain's first lane).
/// Each key's address is asked of it once and kept; a key that can't say (disabled,
/// unreachable) leaves only its own lane out, and is asked again next time.
pub struct KeyPool<K> {
    keys: Vec<K>,
    addresses: Vec<OnceCell<Address>>,
}

impl<K: TransactionSigner> KeyPool<K> {
    pub fn new(keys: Vec<K>) -> Self {
        let addresses = keys.iter().map(|_| OnceCell::new()).collect();
        KeyPool { keys, addresses }
    }

    /// One lane.
    pub fn one(key: K) -> Self {
        Self::new(vec![key])
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn keys(&self) -> &[K] {
        &self.keys
    }

    /// Every lane's address, in order: `None` where the key can't say now.
    pub async fn addresses(&self) -> Vec<Option<Address>> {
        futures::future::join_all(self.keys.iter().zip(&self.addresses).enumerate().map(
            |(i, (key, cell))| async move {
                match cell.get_or_try_init(|| key.address()).await {
                    Ok(address) => Some(*address),
                    Err(e) => {
                        tracing::error!(lane = i + 1, error = %e, "the lane's key can't be read; the lane is left out");
                        None
                    }
                }
            },
        ))
        .await
    }

    /// The key that signs for `from`: a transaction's lane for good. Unavailable (worth
    /// waiting for) while some key can't be read; failed when no configured key signs for it
    /// (its lane was removed).
    pub async fn key_for(&self, from: Address) -> Result<&K, SignError> {
        let addresses = self.addresses().await;
        if let Some(i) = addresses.iter().position(|a| *a == Some(from)) {
            return self
                .keys
                .get(i)
                .ok_or_else(|| SignError::Failed("the lanes and their keys disagree".into()));
        }
        if addresses.iter().any(Option::is_none) {
            return Err(SignError::Unavailable(format!(
                "the key that signs for {from} may be one that can't be read now"
            )));
        }
        Err(SignError::Failed(format!(
            "lane_key_missing: no configured key signs for {from}: its lane was removed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(byte: u8, next: Option<u64>, mined: u64, state: LaneState) -> LaneView {
        LaneView {
            address: Address::repeat_byte(byte),
            next,
            taken_since: 0,
            report: Some(LaneReport {
                mined,
                state,
                balance_wei: 1,
                at: OffsetDateTime::now_utc(),
            }),
        }
    }

    #[test]
    fn a_new_transaction_takes_the_lane_with_the_fewest_in_flight() {
        let now = OffsetDateTime::now_utc();
        let views = [
            lane(1, Some(10), 2, LaneState::Ok),
            lane(2, Some(10), 7, LaneState::Ok),
            lane(3, Some(10), 4, LaneState::Ok),
        ];
        for _ in 0..20 {
            assert_eq!(choose_at(&views, now), Some(1));
        }
    }

    #[test]
    fn a_stalled_or_underfunded_lane_takes_no_new_work_and_none_open_is_none() {
        let now = OffsetDateTime::now_utc();
        let views = [
            lane(1, Some(10), 10, LaneState::Stalled),
            lane(2, Some(10), 10, LaneState::Underfunded),
            lane(3, Some(50), 10, LaneState::Ok),
        ];
        assert_eq!(choose_at(&views, now), Some(2));
        assert_eq!(choose_at(&views[..2], now), None);
    }

    #[test]
    fn a_lane_never_reported_waits_while_a_reported_one_is_open() {
        let now = OffsetDateTime::now_utc();
        let never = LaneView {
            address: Address::repeat_byte(9),
            next: None,
            report: None,
            taken_since: 0,
        };
        let busy = lane(1, Some(100), 0, LaneState::Ok);
        assert_eq!(choose_at(&[never, busy], now), Some(1));
        // Before any report (a new deployment), the lanes share by what was taken since.
        let taken = LaneView {
            taken_since: 3,
            ..never
        };
        assert_eq!(choose_at(&[taken, never], now), Some(1));
    }

    #[test]
    fn a_stale_report_pauses_nothing_and_ties_are_spread() {
        let now = OffsetDateTime::now_utc();
        let mut stale = lane(1, None, 0, LaneState::Stalled);
        if let Some(report) = stale.report.as_mut() {
            report.at = now - REPORT_FRESH_FOR;
        }
        assert!(!stale.paused(now));
        let views = [
            lane(1, None, 0, LaneState::Ok),
            lane(2, None, 0, LaneState::Ok),
        ];
        let chosen: std::collections::BTreeSet<Option<usize>> =
            (0..64).map(|_| choose_at(&views, now)).collect();
        assert_eq!(chosen.len(), 2, "both lanes taken: {chosen:?}");
        assert_eq!(choose_at(&[], now), None);
    }
}
