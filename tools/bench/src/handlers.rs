//! Handler cost: the pure paths every request or record goes through, their inputs, and what
//! criterion (`benches/handlers.rs`) and the allocation counter (`benches/allocations.rs`) made
//! of them. Both benches run [`paths`], so they measure the very same code.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::eips::eip2718::Encodable2718;
use alloy::json_abi::Function;
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256, hex, keccak256};
use aws_sdk_dynamodb::types::AttributeValue;
use tx_shared::adapters::dynamo::item as stored;
use tx_shared::adapters::rpc::classify_rpc_error;
use tx_shared::domain::{
    Event, HistoryEntry, Inclusion, SignedTx, Status, Transaction, TxId, TxMessage,
};
use tx_shared::validation::{MessageTypePolicy, parse_request, validate_call};

use crate::BenchError;

/// Criterion's group for every handler benchmark.
pub const GROUP: &str = "handlers";
/// Where `benches/allocations.rs` writes its counts, under criterion's directory.
pub const ALLOCATIONS_FILE: &str = "allocations.json";

/// The challenge's message type, as clients write it.
pub const ADD_WEIGHT: &str = "add_weight(address _addr, uint256 _weight)";
/// A wider call, to see how decoding grows with dynamic arguments.
const WIDE_CALL: &str =
    "settle(bytes32 batch, address[] payees, uint256[] amounts, string memo, bool final)";
/// Node error answers as nodes word them, in the mix the challenge's node produces.
const NODE_ERRORS: [(i64, &str); 6] = [
    (-32000, "nonce too low"),
    (-32000, "already known"),
    (-32000, "replacement transaction underpriced"),
    (-32000, "insufficient funds for gas * price + value"),
    (-32603, "internal error"),
    (
        3,
        "execution reverted: ERC20: transfer amount exceeds balance",
    ),
];

/// Calldata for `add_weight(addr, weight)`: selector and two static words.
pub fn add_weight_data(weight: u64) -> String {
    let addr = hex::encode(Address::repeat_byte(0x77));
    format!("0x1c41742f{addr:0>64}{weight:064x}")
}

/// A `POST /transaction/broadcast` body.
fn broadcast_body(message_type: &str, data: &str) -> String {
    serde_json::json!({ "message_type": message_type, "data": data }).to_string()
}

/// The body of the common request.
pub fn add_weight_body(weight: u64) -> String {
    broadcast_body(ADD_WEIGHT, &add_weight_data(weight))
}

/// The heaviest body the API accepts: `f(uint256[])` with 2,000 elements (~128 KiB of JSON).
fn largest_body() -> String {
    let mut data = format!("0x{}", hex::encode(&keccak256("f(uint256[])")[..4]));
    data.push_str(&format!("{:064x}{:064x}", 32, 2000));
    for i in 0..2000u64 {
        data.push_str(&format!("{:064x}", i * 1_000_003));
    }
    broadcast_body("f(uint256[] values)", &data)
}

/// The reported attack: a type whose decoder template is 10^10 words, with one word of data.
fn hostile_body() -> String {
    let ty = "f(uint256[100000][100000][])";
    let data = format!("0x{}{:064x}", hex::encode(&keccak256(ty)[..4]), 32);
    broadcast_body(ty, &data)
}

/// The body of a wider request: 16 payees, 16 amounts and a memo.
fn wide_body() -> Result<String, BenchError> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Failed(format!("{WIDE_CALL}: {e}"));
    let function = Function::parse(WIDE_CALL).map_err(|e| failed(&e))?;
    let payees = (0..16u8).map(|i| DynSolValue::Address(Address::repeat_byte(i)));
    let amounts = (0..16u64).map(|i| DynSolValue::Uint(U256::from(i * 1_000_000_007), 256));
    let data = function
        .abi_encode_input(&[
            DynSolValue::FixedBytes(B256::repeat_byte(0xba), 32),
            DynSolValue::Array(payees.collect()),
            DynSolValue::Array(amounts.collect()),
            DynSolValue::String("settlement of batch 42, second attempt".into()),
            DynSolValue::Bool(true),
        ])
        .map_err(|e| failed(&e))?;
    Ok(broadcast_body(WIDE_CALL, &hex::encode_prefixed(data)))
}

/// The transaction the signer builds for the common request.
fn unsigned_transaction() -> TxEip1559 {
    TxEip1559 {
        chain_id: 31337,
        nonce: 1234,
        gas_limit: 48_211,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x7a)),
        value: U256::ZERO,
        access_list: Default::default(),
        input: hex::decode(add_weight_data(42))
            .map(Bytes::from)
            .unwrap_or_default(),
    }
}

/// What the signer does around KMS: attach a signature (a fixed one: encoding does not check
/// it, and KMS is not the point), encode, hash.
fn sign_locally(tx: TxEip1559) -> (Bytes, B256) {
    let (r, s) = (
        U256::from_be_bytes([0x11; 32]),
        U256::from_be_bytes([0x22; 32]),
    );
    let signature = Signature::new(r, s, false);
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    (envelope.encoded_2718().into(), *envelope.tx_hash())
}

/// A confirmed transaction with a signed payload and a typical history: what the broadcaster
/// and the API read back.
fn confirmed_transaction() -> Transaction {
    let unsigned = unsigned_transaction();
    let data = unsigned.input.clone();
    let (raw, hash) = sign_locally(unsigned);
    let (from, to) = (Address::repeat_byte(0xda), Address::repeat_byte(0x7a));
    let (gas_limit, max_fee_per_gas, max_priority_fee_per_gas) =
        (48_211, 2_000_000_000, 1_000_000_000);
    let signed = SignedTx {
        nonce: 1234,
        from,
        to,
        gas_limit,
        max_fee_per_gas,
        max_priority_fee_per_gas,
        hash,
        raw,
    };
    let mut retry = HistoryEntry::now(Event::Retry).detail("the node is unavailable: HTTP 503");
    retry.attempt = Some(1);
    retry.backoff_ceiling_ms = Some(2_000);
    retry.next_attempt_at = Some(retry.at);
    let history = vec![
        HistoryEntry::signed_as(&signed),
        retry,
        HistoryEntry::now(Event::Broadcast).hash(hash),
        HistoryEntry::now(Event::Confirmed).hash(hash),
    ];
    let at = history[0].at;
    Transaction {
        id: TxId::generate(),
        status: Status::Confirmed,
        message_type: ADD_WEIGHT.to_owned(),
        function_signature: "add_weight(address,uint256)".to_owned(),
        data,
        chain_id: 31337,
        client: "bench-client".parse().ok(),
        idempotency_key: Some("order-2026-01-01-000042".to_owned()),
        nonce: Some(1234),
        from: Some(from),
        signed: Some(signed),
        inclusion: Some(Inclusion {
            block_number: 19_000_123,
            succeeded: true,
        }),
        attempts: 1,
        last_error: None,
        next_attempt_at: None,
        dead_lettered: false,
        generation: 0,
        follow_token: None,
        history,
        created_at: at,
        updated_at: at,
    }
}

/// The stored item of a confirmed transaction: the API's item plus what the signer and the
/// broadcaster add with their updates (attribute names as the store writes them).
fn confirmed_item(tx: &Transaction) -> HashMap<String, AttributeValue> {
    let mut item = stored::to_item(tx);
    let (s, n) = (AttributeValue::S, |v: u128| {
        AttributeValue::N(v.to_string())
    });
    if let Some(t) = &tx.signed {
        item.extend(
            [
                ("nonce", n(t.nonce.into())),
                ("signer_address", s(t.from.to_string())),
                ("target", s(t.to.to_string())),
                ("tx_hash", s(t.hash.to_string())),
                ("raw_tx", s(t.raw.to_string())),
                ("gas_limit", n(t.gas_limit.into())),
                ("max_fee_per_gas", n(t.max_fee_per_gas)),
                ("max_priority_fee_per_gas", n(t.max_priority_fee_per_gas)),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
    }
    if let Some(inclusion) = tx.inclusion {
        item.insert("block_number".into(), n(inclusion.block_number.into()));
    }
    let history = tx.history.iter().map(stored::history_to_attribute);
    item.insert("history".into(), AttributeValue::L(history.collect()));
    item
}

/// One iteration of a path, on its input; it returns a size, never 0 when the path ran, so
/// nothing is optimised away.
pub type Iteration = Box<dyn Fn() -> usize>;

fn path(id: &'static str, f: impl Fn() -> usize + 'static) -> (&'static str, Iteration) {
    (id, Box::new(f))
}

/// The benchmarked paths, their inputs built once. What each does, and where it runs, is in
/// `docs/benchmarking.md` (§3).
pub fn paths() -> Result<Vec<(&'static str, Iteration)>, BenchError> {
    let policy = MessageTypePolicy::allow_all();
    let validate = |body: String| {
        let policy = policy.clone();
        move || {
            let call = parse_request(body.as_bytes()).map(|r| validate_call(&r, &policy));
            call.map_or(0, |call| call.map_or(0, |call| call.data.len()))
        }
    };
    let (body, hostile, refusing) = (add_weight_body(42), hostile_body(), policy.clone());
    let (unsigned, to_sign) = (unsigned_transaction(), unsigned_transaction());
    let confirmed = confirmed_transaction();
    let item = confirmed_item(&confirmed);
    let message = serde_json::to_string(&TxMessage::new(confirmed.id)).unwrap_or_default();
    let received = Transaction {
        status: Status::Received,
        ..confirmed
    };
    let classify = |(code, message): &(i64, &str)| classify_rpc_error(*code, message).classify();
    Ok(vec![
        path("parse_request", move || {
            parse_request(body.as_bytes()).map_or(0, |r| r.data.len())
        }),
        path("validate_add_weight", validate(add_weight_body(42))),
        path("validate_wide_call", validate(wide_body()?)),
        path("validate_largest_call", validate(largest_body())),
        // The refusal's code: non-zero when refused, as it must be.
        path("refuse_hostile_call", move || {
            let request = parse_request(hostile.as_bytes()).ok();
            let refusal = request.and_then(|r| validate_call(&r, &refusing).err());
            refusal.map_or(0, |e| e.code().len())
        }),
        path("build_and_hash_tx", move || {
            unsigned.clone().signature_hash().len()
        }),
        path("encode_signed_tx", move || {
            sign_locally(to_sign.clone()).0.len()
        }),
        path("classify_node_errors", move || {
            NODE_ERRORS.iter().map(|e| classify(e).1.len()).sum()
        }),
        path("parse_queue_message", move || {
            let parsed = serde_json::from_str::<TxMessage>(&message);
            parsed.map_or(0, |m| m.receipt_checks as usize + 1)
        }),
        path("transaction_to_item", move || {
            stored::to_item(&received).len()
        }),
        path("transaction_from_item", move || {
            stored::from_item(&item).map_or(0, |tx| tx.history.len())
        }),
    ])
}

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
    /// Criterion's median estimate, nanoseconds per iteration.
    pub median_ns: Option<f64>,
    pub allocations: Option<Allocations>,
}

/// Reads criterion's estimates and the allocation counts under `criterion_dir`.
pub fn read(criterion_dir: &Path) -> Vec<HandlerCost> {
    let json = |path: &Path| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
    };
    let allocations: BTreeMap<String, Allocations> = json(&criterion_dir.join(ALLOCATIONS_FILE))
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let ids = paths().map_or_else(
        |_| Vec::new(),
        |p| p.into_iter().map(|(id, _)| id).collect(),
    );
    ids.into_iter()
        .map(|id| HandlerCost {
            id,
            median_ns: json(&criterion_dir.join(format!("{GROUP}/{id}/new/estimates.json")))
                .and_then(|v| v.pointer("/median/point_estimate")?.as_f64()),
            allocations: allocations.get(id).copied(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benchmark_runs_its_path_and_the_largest_call_is_the_largest_accepted() {
        let paths = paths().unwrap_or_else(|e| panic!("{e}"));
        for (id, iteration) in &paths {
            assert_ne!(iteration(), 0, "{id} does not run its path");
        }
        let largest = largest_body();
        assert!(largest.len() <= tx_shared::validation::MAX_BODY_BYTES);
        assert!(largest.len() > 120 * 1024, "{}", largest.len());
        let validated = paths.iter().find(|(id, _)| *id == "validate_largest_call");
        assert_eq!(validated.map(|(_, f)| f()), Some(4 + 64 + 2000 * 32));
    }
}
