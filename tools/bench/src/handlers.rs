//! Handler cost: the pure paths every request or record goes through, as criterion measured
//! them (`benches/handlers.rs`), with their allocations (`benches/allocations.rs`).

use std::collections::BTreeMap;
use std::path::Path;

/// Criterion's group for every handler benchmark.
pub const GROUP: &str = "handlers";

/// Where `benches/allocations.rs` writes its counts, under criterion's directory.
pub const ALLOCATIONS_FILE: &str = "allocations.json";

/// `(id, what one iteration does, where it runs)`.
pub const BENCHES: [(&str, &str, &str); 11] = [
    (
        "parse_request",
        "parse a broadcast body (JSON, fields)",
        "api, per request",
    ),
    (
        "validate_add_weight",
        "parse + validate + ABI-decode `add_weight(address,uint256)`",
        "api, per request",
    ),
    (
        "validate_wide_call",
        "the same for a call with 2×16-element arrays and a string",
        "api, per request",
    ),
    (
        "validate_largest_call",
        "the heaviest request accepted: `f(uint256[])` with 2,000 elements, ~128 KiB of JSON",
        "api, per request (the bound: at most 10 ms)",
    ),
    (
        "refuse_hostile_call",
        "refuse `f(uint256[100000][100000][])` with one word of data (it used to exhaust memory)",
        "api, per hostile request",
    ),
    (
        "build_and_hash_tx",
        "build the EIP-1559 transaction, RLP-encode, keccak the signing hash",
        "signer, per transaction",
    ),
    (
        "encode_signed_tx",
        "attach the signature, EIP-2718-encode, hash",
        "signer, per transaction",
    ),
    (
        "classify_node_errors",
        "classify 6 node error answers (wording, then verdict)",
        "signer/broadcaster, per failure",
    ),
    (
        "parse_queue_message",
        "parse an SQS record body (`TxMessage`)",
        "signer/broadcaster, per record",
    ),
    (
        "transaction_to_item",
        "map a new transaction to its DynamoDB item",
        "api, per request",
    ),
    (
        "transaction_from_item",
        "map a confirmed item (signed, 4 history entries) back",
        "every read",
    ),
];

/// Allocations of one iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Allocations {
    pub allocations: f64,
    pub bytes: f64,
}

/// One benchmark's result.
#[derive(Debug, Clone)]
pub struct HandlerCost {
    pub id: &'static str,
    pub what: &'static str,
    pub runs_in: &'static str,
    /// Criterion's median estimate, nanoseconds per iteration.
    pub median_ns: Option<f64>,
    pub allocations: Option<Allocations>,
}

/// Reads criterion's estimates and the allocation counts under `criterion_dir`.
pub fn read(criterion_dir: &Path) -> Vec<HandlerCost> {
    let allocations: BTreeMap<String, Allocations> =
        std::fs::read_to_string(criterion_dir.join(ALLOCATIONS_FILE))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
    BENCHES
        .iter()
        .map(|(id, what, runs_in)| HandlerCost {
            id,
            what,
            runs_in,
            median_ns: median_ns(
                &criterion_dir
                    .join(GROUP)
                    .join(id)
                    .join("new/estimates.json"),
            ),
            allocations: allocations.get(*id).copied(),
        })
        .collect()
}

fn median_ns(estimates: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(estimates).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.pointer("/median/point_estimate")?.as_f64()
}
