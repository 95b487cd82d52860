//! CloudWatch metrics as embedded metric format (EMF) lines: one JSON object per line on
//! stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics. No API
//! call, no extra permission, nothing to wait for.

use std::collections::BTreeMap;
use std::io::Write;

use alloy::primitives::Address;
use serde_json::{Map, Value, json};

use crate::domain::{Event, HistoryEntry, Transaction};

/// Every metric of this service is in this namespace (infra/alarms.tf alarms on them).
pub const NAMESPACE: &str = "TxBroadcaster";

/// The signer account's balance, in ether, per chain: alarmed below a threshold.
pub fn signer_balance(chain_id: u64, lane: usize, address: Address, wei: u128) {
    // An f64 keeps 15 significant digits: plenty for a threshold in ether.
    let ether = wei as f64 / 1e18;
    emit(
        ("SignerBalanceEther", "None", json!(ether)),
        &lane_dimensions(chain_id, lane),
        json!({ "signer_address": address.to_string() }),
    );
}

/// A lane's metrics are by chain and lane: `Lane` is its position in the chain's keys, from
/// 1, which Terraform knows (an address comes from KMS only at run time).
fn lane_dimensions(chain_id: u64, lane: usize) -> [(&'static str, String); 2] {
    [
        ("ChainId", chain_id.to_string()),
        ("Lane", (lane + 1).to_string()),
    ]
}

/// One transaction waiting (for funds, for fees under the cap): alarmed when waits persist.
/// `reason` starts with its stable code (`insufficient_funds: …`), logged beside the count.
pub fn waiting(reason: &str) {
    let code = HistoryEntry::reason_code(reason).trim_end_matches(':');
    let code = if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        code
    } else {
        "other"
    };
    emit(
        ("TransactionsWaiting", "Count", json!(1)),
        &[],
        json!({ "wait_reason": code }),
    );
}

/// A transaction entered `needs_review` (counted from the table's stream, whatever moved it):
/// alarmed at once.
pub fn needs_review(transaction_id: crate::domain::TxId) {
    emit(
        ("TransactionsNeedingReview", "Count", json!(1)),
        &[],
        json!({ "transaction_id": transaction_id.to_string() }),
    );
}

/// The signing account is stalled at `nonce` and the watchdog could not repair it: a human
/// must act (alarmed at once). `reason` is a stable code.
pub fn nonce_stalled(chain_id: u64, lane: usize, address: Address, nonce: u64, reason: &str) {
    emit(
        ("NonceStalled", "Count", json!(1)),
        &lane_dimensions(chain_id, lane),
        json!({ "signer_address": address.to_string(), "nonce": nonce, "stall_reason": reason }),
    );
}

/// A lane takes no new work (`stalled`, `underfunded`): alarmed per lane, so a paused lane
/// never goes unnoticed whatever the balance threshold says.
pub fn lane_paused(chain_id: u64, lane: usize, address: Address, state: &str) {
    emit(
        ("LanePaused", "Count", json!(1)),
        &lane_dimensions(chain_id, lane),
        json!({ "signer_address": address.to_string(), "lane_state": state }),
    );
}

/// The webhook metrics, as the dashboard charts them (infra-check holds the two together).
pub const WEBHOOK_METRICS: [&str; 2] = ["WebhookDeliveries", "WebhookLatency"];

/// One webhook attempt, by how it ended (`delivered`, `failed`, `gave_up`, `refused`,
/// `skipped`; and [`webhook_dropped`]'s `dropped`), and how long the endpoint took: the dashboard's webhook row; `gave_up` is
/// alarmed with the webhook dead-letter queue.
pub fn webhook_attempt(outcome: &str, latency_ms: u64, transaction_id: crate::domain::TxId) {
    let extra = json!({ "transaction_id": transaction_id.to_string() });
    emit(
        (WEBHOOK_METRICS[0], "Count", json!(1)),
        &[("Outcome", outcome.to_owned())],
        extra.clone(),
    );
    // Only what reached an endpoint took its time.
    if matches!(outcome, "delivered" | "failed" | "gave_up") {
        emit(
            (WEBHOOK_METRICS[1], "Milliseconds", json!(latency_ms)),
            &[],
            extra,
        );
    }
}

/// An event that could never be delivered as it is (a client's endpoints that don't read, a
/// message the queue refuses): counted as `dropped`, alarmed at once.
pub fn webhook_dropped(transaction_id: crate::domain::TxId) {
    emit(
        (WEBHOOK_METRICS[0], "Count", json!(1)),
        &[("Outcome", "dropped".to_owned())],
        json!({ "transaction_id": transaction_id.to_string() }),
    );
}

/// The pipeline's progress: what one batch of the table's changes did to transactions, per
/// chain, counted from the histories the changes appended (the notifier reads the table's
/// stream, old and new image, so nothing is asked of AWS for them). Counts are `Count`s;
/// the time between stages, in seconds, are distributions (`p50`, `p99` on the dashboard).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Progress {
    by_chain: BTreeMap<u64, ChainProgress>,
}

#[derive(Debug, Default, Clone, PartialEq)]
struct ChainProgress {
    counts: BTreeMap<&'static str, u64>,
    seconds: BTreeMap<&'static str, Vec<f64>>,
    /// The same, by the minute each step happened in (Unix time over 60), for the timeline.
    minutes: BTreeMap<i64, crate::ports::MinuteProgress>,
}

/// Every count [`Progress`] publishes, and the history event it counts (`None`: a new
/// transaction stored). Terraform's dashboard charts each (infra-check holds them together).
pub const PROGRESS_COUNTS: [(&str, Option<Event>); 12] = [
    ("Accepted", None),
    // A stored request deleted again because it could not be queued (the client got a 503).
    ("Withdrawn", None),
    ("Signed", Some(Event::Signed)),
    ("Broadcast", Some(Event::Broadcast)),
    ("Confirmed", Some(Event::Confirmed)),
    ("Reverted", Some(Event::Reverted)),
    ("NeedsReview", Some(Event::NeedsReview)),
    ("Retries", Some(Event::Retry)),
    ("Replacements", Some(Event::Replaced)),
    ("OperatorRetries", Some(Event::RetryRequested)),
    ("NoncesLost", Some(Event::NonceLost)),
    ("Reorgs", Some(Event::Reorged)),
];

/// The time between stages, in seconds: accepted to first signed, a signing to its first
/// broadcast, the first broadcast of the last signing to the first confirmation.
pub const PROGRESS_SECONDS: [&str; 3] = [
    "AcceptedToSignedSeconds",
    "SignedToBroadcastSeconds",
    "BroadcastToConfirmedSeconds",
];

/// What a stream record did to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Insert,
    Modify,
    Remove,
}

impl Change {
    /// The stream's `eventName` (`INSERT`, `MODIFY`, `REMOVE`).
    pub fn of_event_name(name: &str) -> Option<Change> {
        match name {
            "INSERT" => Some(Change::Insert),
            "MODIFY" => Some(Change::Modify),
            "REMOVE" => Some(Change::Remove),
            _ => None,
        }
    }
}

/// How long [`Progress::keep`] may take.
pub const KEEP_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// EMF takes at most 100 values of one metric per line.
const VALUES_PER_LINE: usize = 100;

impl Progress {
    /// One record of the table's stream about a transaction: what happened to the item, its
    /// old and new image as far as this release can read them. A change whose old image can't
    /// be read says nothing of what it appended, and counts nothing.
    pub fn change(&mut self, kind: Change, old: Option<&Transaction>, new: Option<&Transaction>) {
        match (kind, old, new) {
            (Change::Insert, _, Some(new)) => self.record(None, new),
            (Change::Modify, Some(old), Some(new)) => self.record(Some(old), new),
            (Change::Remove, Some(old), _) => self.removed(old),
            _ => {}
        }
    }

    /// A transaction's item deleted: only a request the API withdrew (it could not be queued)
    /// is ever deleted.
    fn removed(&mut self, old: &Transaction) {
        if old.status == crate::domain::Status::Received {
            self.by_chain
                .entry(old.chain_id)
                .or_default()
                .count("Withdrawn", time::OffsetDateTime::now_utc());
        }
    }

    /// One change of a transaction's item: `old` is `None` when it was just stored.
    fn record(&mut self, old: Option<&Transaction>, new: &Transaction) {
        let chain = self.by_chain.entry(new.chain_id).or_default();
        if old.is_none() {
            chain.count("Accepted", new.created_at);
        }
        let seen = old.map_or(0, |old| old.history.len());
        let history = &new.history;
        for (i, entry) in history.iter().enumerate().skip(seen) {
            let earlier = &history[..i];
            if let Some((name, _)) = PROGRESS_COUNTS
                .iter()
                .find(|(_, event)| *event == Some(entry.event))
            {
                chain.count(name, entry.at);
            }
            let last = |event: Event| earlier.iter().rposition(|e| e.event == event);
            let since = |from: time::OffsetDateTime| (entry.at - from).as_seconds_f64().max(0.0);
            match entry.event {
                // Accepted, or handed back by an operator after a review: to its first signing.
                Event::Signed if last(Event::Signed).is_none() => {
                    let from = last(Event::RetryRequested)
                        .map_or(new.created_at, |retried| earlier[retried].at);
                    chain.time("AcceptedToSignedSeconds", since(from), entry.at);
                }
                Event::Broadcast => {
                    // The first broadcast after the last signing.
                    if let Some(signed) = last(Event::Signed)
                        && !earlier[signed..]
                            .iter()
                            .any(|e| e.event == Event::Broadcast)
                    {
                        chain.time(
                            "SignedToBroadcastSeconds",
                            since(earlier[signed].at),
                            entry.at,
                        );
                    }
                }
                Event::Confirmed if last(Event::Confirmed).is_none() => {
                    let signed = last(Event::Signed).unwrap_or(0);
                    if let Some(sent) = earlier[signed..]
                        .iter()
                        .find(|e| e.event == Event::Broadcast)
                    {
                        chain.time("BroadcastToConfirmedSeconds", since(sent.at), entry.at);
                    }
                }
                _ => {}
            }
        }
    }

    /// One EMF line per chain (more when a distribution has over 100 values), or none.
    pub fn lines(&self, at: time::OffsetDateTime) -> Vec<Value> {
        let mut lines = Vec::new();
        for (chain_id, chain) in &self.by_chain {
            let chunks = chain
                .seconds
                .values()
                .map(|values| values.len().div_ceil(VALUES_PER_LINE))
                .max()
                .unwrap_or(0)
                .max(1);
            for chunk in 0..chunks {
                let mut metrics = Vec::new();
                let mut line = Map::new();
                if chunk == 0 {
                    for (name, count) in &chain.counts {
                        metrics.push(json!({ "Name": name, "Unit": "Count" }));
                        line.insert((*name).into(), json!(count));
                    }
                }
                for (name, values) in &chain.seconds {
                    let part: Vec<f64> = values
                        .iter()
                        .skip(chunk * VALUES_PER_LINE)
                        .take(VALUES_PER_LINE)
                        .copied()
                        .collect();
                    if !part.is_empty() {
                        metrics.push(json!({ "Name": name, "Unit": "Seconds" }));
                        line.insert((*name).into(), json!(part));
                    }
                }
                if metrics.is_empty() {
                    continue;
                }
                line.insert(
                    "_aws".into(),
                    json!({
                        "Timestamp": at.unix_timestamp() * 1000,
                        "CloudWatchMetrics": [{
                            "Namespace": NAMESPACE,
                            "Dimensions": [["ChainId"]],
                            "Metrics": metrics,
                        }],
                    }),
                );
                line.insert("ChainId".into(), json!(chain_id.to_string()));
                lines.push(Value::Object(line));
            }
        }
        lines
    }

    /// Each chain's counts and times, summed by the minute each step happened in, as the
    /// status page's timeline keeps them: `(chain, minute, progress)`.
    pub fn per_minute(&self) -> Vec<(u64, i64, crate::ports::MinuteProgress)> {
        self.by_chain
            .iter()
            .flat_map(|(chain_id, chain)| {
                chain
                    .minutes
                    .iter()
                    .map(|(minute, step)| (*chain_id, *minute, step.clone()))
            })
            .collect()
    }

    /// Adds each chain's progress to the minutes its steps happened in, in `log`, all at once
    /// and within [`KEEP_WITHIN`]. Best effort: the charts are a glance, and a batch must not
    /// fail (be delivered again, and counted twice) for them.
    pub async fn keep(&self, log: &impl crate::ports::ProgressLog) {
        let minutes = self.per_minute();
        let writes = minutes.iter().map(|(chain_id, minute, step)| async move {
            if let Err(e) = log.add_progress(*chain_id, *minute, step).await {
                tracing::warn!(chain_id, error = %e, "could not keep the minute's progress");
            }
        });
        if tokio::time::timeout(KEEP_WITHIN, futures::future::join_all(writes))
            .await
            .is_err()
        {
            tracing::warn!("keeping the minute's progress took too long; left out");
        }
    }

    /// Writes [`Progress::lines`] to stdout, where Lambda ships them to CloudWatch.
    pub fn emit(&self) {
        let mut out = std::io::stdout().lock();
        for line in self.lines(time::OffsetDateTime::now_utc()) {
            let _ = writeln!(out, "{line}");
        }
    }
}

impl ChainProgress {
    fn count(&mut self, name: &'static str, at: time::OffsetDateTime) {
        *self.counts.entry(name).or_default() += 1;
        *self.minute(at).counts.entry(name.to_owned()).or_default() += 1;
    }

    fn time(&mut self, name: &'static str, seconds: f64, at: time::OffsetDateTime) {
        self.seconds.entry(name).or_default().push(seconds);
        let (sum, n) = self.minute(at).seconds.entry(name.to_owned()).or_default();
        *sum += seconds;
        *n += 1;
    }

    fn minute(&mut self, at: time::OffsetDateTime) -> &mut crate::ports::MinuteProgress {
        self.minutes
            .entry(at.unix_timestamp().div_euclid(60))
            .or_default()
    }
}

/// One EMF line: the metric `(name, unit, value)`, its dimensions, and extra fields to log
/// beside it.
fn emit(metric: (&str, &str, Value), dimensions: &[(&str, String)], extra: Value) {
    let (name, unit, value) = metric;
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(key, _)| *key).collect::<Vec<_>>()],
                "Metrics": [{ "Name": name, "Unit": unit }],
            }],
        }),
    );
    for (key, dimension) in dimensions {
        line.insert((*key).into(), json!(dimension));
    }
    line.insert(name.into(), value);
    if let Value::Object(extra) = extra {
        line.extend(extra);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", Value::Object(line));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewTransaction, TxId};
    use time::OffsetDateTime;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    fn received(chain_id: u64) -> Transaction {
        Transaction::received(&NewTransaction {
            id: TxId::generate(),
            message_type: "f()".into(),
            function_signature: "f()".into(),
            data: alloy::primitives::Bytes::from(vec![0x26, 0x12, 0x1f, 0xf0]),
            chain_id,
            client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
            idempotency: None,
            created_at: at(0),
        })
    }

    fn then(tx: &Transaction, event: Event, seconds: i64) -> Transaction {
        let mut next = tx.clone();
        next.history.push(HistoryEntry {
            at: at(seconds),
            ..HistoryEntry::now(event)
        });
        next
    }

    fn line_of(progress: &Progress, chain_id: u64) -> Value {
        progress
            .lines(at(100))
            .into_iter()
            .find(|l| l["ChainId"].as_str() == Some(chain_id.to_string().as_str()))
            .unwrap_or(Value::Null)
    }

    #[test]
    fn each_change_counts_the_steps_it_appended_and_times_the_stages_once() {
        let mut progress = Progress::default();
        let stored = received(1);
        progress.record(None, &stored);
        let signed = then(&stored, Event::Signed, 2);
        progress.record(Some(&stored), &signed);
        let sent = then(&then(&signed, Event::Retry, 3), Event::Broadcast, 5);
        // Two steps in one write: both counted.
        progress.record(Some(&signed), &sent);
        let replaced = then(&sent, Event::Replaced, 9);
        progress.record(Some(&sent), &replaced);
        // The same image again (a write that added no step) counts nothing.
        progress.record(Some(&replaced), &replaced);
        let confirmed = then(&then(&replaced, Event::Broadcast, 10), Event::Confirmed, 17);
        progress.record(Some(&replaced), &confirmed);
        // Another chain's transaction is its own line.
        progress.record(None, &received(8453));

        let line = line_of(&progress, 1);
        for (name, count) in [
            ("Accepted", 1),
            ("Signed", 1),
            ("Retries", 1),
            ("Broadcast", 2),
            ("Replacements", 1),
            ("Confirmed", 1),
        ] {
            assert_eq!(line[name], count, "{name}");
        }
        assert_eq!(line["Reverted"], Value::Null);
        assert_eq!(line["AcceptedToSignedSeconds"], json!([2.0]));
        // The first broadcast after the signing, not the re-send.
        assert_eq!(line["SignedToBroadcastSeconds"], json!([3.0]));
        assert_eq!(line["BroadcastToConfirmedSeconds"], json!([12.0]));
        let emf = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], NAMESPACE);
        assert_eq!(emf["Dimensions"], json!([["ChainId"]]));
        let declared: Vec<&str> = emf["Metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(declared.len(), 9, "{declared:?}");
        assert!(declared.iter().all(|name| line[*name] != Value::Null));
        assert_eq!(line_of(&progress, 8453)["Accepted"], 1);
    }

    #[test]
    fn a_resigned_transaction_is_timed_from_its_last_signing() {
        let mut progress = Progress::default();
        let first = then(&then(&received(1), Event::Signed, 1), Event::Broadcast, 2);
        let lost = then(&first, Event::NonceLost, 30);
        let again = then(&then(&lost, Event::Signed, 31), Event::Broadcast, 33);
        let confirmed = then(&again, Event::Confirmed, 40);
        progress.record(Some(&first), &confirmed);
        let line = line_of(&progress, 1);
        assert_eq!(line["NoncesLost"], 1);
        // Accepted to the first signing only; the second signing's own hand-over.
        assert_eq!(line["AcceptedToSignedSeconds"], Value::Null);
        assert_eq!(line["SignedToBroadcastSeconds"], json!([2.0]));
        assert_eq!(line["BroadcastToConfirmedSeconds"], json!([7.0]));
    }

    #[test]
    fn only_what_the_stream_says_happened_is_counted() {
        let mut progress = Progress::default();
        let stored = received(1);
        let signed = Transaction {
            status: crate::domain::Status::Signed,
            ..then(&stored, Event::Signed, 2)
        };
        // A change whose old image this release can't read: nothing, not a new transaction.
        progress.change(Change::Modify, None, Some(&signed));
        assert!(progress.lines(at(0)).is_empty());
        // A request withdrawn (deleted while received) is counted; nothing else is deleted.
        progress.change(Change::Remove, Some(&stored), None);
        progress.change(Change::Remove, Some(&signed), None);
        // A change whose new image can't be read is no deletion.
        progress.change(Change::Modify, Some(&stored), None);
        progress.change(Change::Insert, None, Some(&stored));
        let line = line_of(&progress, 1);
        assert_eq!(line["Withdrawn"], 1);
        assert_eq!(line["Accepted"], 1);
        assert_eq!(line["Signed"], Value::Null);
    }

    #[test]
    fn a_transaction_an_operator_handed_back_is_timed_from_the_hand_back() {
        let mut progress = Progress::default();
        let stored = received(1);
        let reviewed = then(
            &then(&stored, Event::NeedsReview, 5),
            Event::RetryRequested,
            3600,
        );
        let signed = then(&reviewed, Event::Signed, 3602);
        progress.change(Change::Modify, Some(&reviewed), Some(&signed));
        assert_eq!(
            line_of(&progress, 1)["AcceptedToSignedSeconds"],
            json!([2.0])
        );
    }

    #[test]
    fn the_timeline_counts_each_step_in_the_minute_it_happened() {
        let mut progress = Progress::default();
        let stored = received(1);
        let signed = then(&stored, Event::Signed, 90);
        progress.change(Change::Insert, None, Some(&stored));
        progress.change(Change::Modify, Some(&stored), Some(&signed));
        let minute = |seconds: i64| at(seconds).unix_timestamp().div_euclid(60);
        let minutes = progress.per_minute();
        assert_eq!(minutes.len(), 2, "{minutes:?}");
        assert_eq!((minutes[0].0, minutes[0].1), (1, minute(0)));
        assert_eq!(minutes[0].2.counts.get("Accepted"), Some(&1));
        assert_eq!(minutes[1].1, minute(90));
        assert_eq!(minutes[1].2.counts.get("Signed"), Some(&1));
        assert_eq!(
            minutes[1].2.seconds.get("AcceptedToSignedSeconds"),
            Some(&(90.0, 1))
        );
    }

    #[test]
    fn a_distribution_of_more_than_a_hundred_values_spreads_over_lines() {
        let mut progress = Progress::default();
        for _ in 0..250 {
            let stored = received(1);
            progress.record(None, &stored);
            progress.record(Some(&stored), &then(&stored, Event::Signed, 4));
        }
        let lines = progress.lines(at(0));
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Accepted"], 250);
        assert_eq!(lines[1]["Accepted"], Value::Null);
        let values: usize = lines
            .iter()
            .map(|l| l["AcceptedToSignedSeconds"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(values, 250);
        assert!(Progress::default().lines(at(0)).is_empty());
    }
}
