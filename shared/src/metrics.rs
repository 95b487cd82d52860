//! CloudWatch metrics as embedded metric format (EMF) lines: one JSON object per line on
//! stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into metrics. No API
//! call, no extra permission, nothing to wait for.

use std::io::Write;

use alloy::primitives::Address;
use serde_json::json;

/// Every metric of this service is in this namespace (infra/alarms.tf alarms on them).
pub const NAMESPACE: &str = "TxBroadcaster";

/// The signer account's balance, in ether, per chain: alarmed below a threshold.
pub fn signer_balance(chain_id: u64, address: Address, wei: u128) {
    // An f64 keeps 15 significant digits: plenty for a threshold in ether.
    let ether = wei as f64 / 1e18;
    let line = json!({
        "_aws": {
            "Timestamp": time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["ChainId"]],
                "Metrics": [{ "Name": "SignerBalanceEther", "Unit": "None" }],
            }],
        },
        "ChainId": chain_id.to_string(),
        "SignerBalanceEther": ether,
        "signer_address": address.to_string(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// One transaction waiting (for funds, for fees under the cap): alarmed when waits persist.
/// `reason` is the stable code the wait's reason starts with (`insufficient_funds`, …).
pub fn waiting(reason: &str) {
    let code: String = reason
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    let code = if code.is_empty() { "other" } else { &code };
    let line = json!({
        "_aws": {
            "Timestamp": time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": "TransactionsWaiting", "Unit": "Count" }],
            }],
        },
        "TransactionsWaiting": 1,
        "wait_reason": code,
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
