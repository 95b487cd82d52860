//! CloudWatch metrics as embedded metric format (EMF) lines: one JSON object per line on
//! stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics. No API
//! call, no extra permission, nothing to wait for.

use std::io::Write;

use alloy::primitives::Address;
use serde_json::{Map, Value, json};

use crate::domain::HistoryEntry;

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
