//! Inputs shared by the criterion benchmarks, the allocation counts and the pipeline runs:
//! what the system handles for real, built once.

use std::collections::HashMap;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::eips::eip2718::Encodable2718;
use alloy::json_abi::Function;
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256, hex};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;
use tx_shared::adapters::dynamo::item as stored;
use tx_shared::domain::{Event, HistoryEntry, Inclusion, SignedTx, Status, Transaction, TxId};

use crate::BenchError;

/// The challenge's message type, as clients write it.
pub const ADD_WEIGHT: &str = "add_weight(address _addr, uint256 _weight)";
/// Its selector (`keccak256("add_weight(address,uint256)")[..4]`).
const ADD_WEIGHT_SELECTOR: &str = "1c41742f";

/// A wider call, to see how decoding grows with dynamic arguments.
pub const WIDE_CALL: &str =
    "settle(bytes32 batch, address[] payees, uint256[] amounts, string memo, bool final)";

/// Calldata for `add_weight(addr, weight)`: selector and two static words.
pub fn add_weight_data(addr: Address, weight: u64) -> String {
    format!(
        "0x{ADD_WEIGHT_SELECTOR}{:0>64}{weight:064x}",
        hex::encode(addr)
    )
}

/// A `POST /transaction/broadcast` body.
pub fn broadcast_body(message_type: &str, data: &str) -> String {
    serde_json::json!({ "message_type": message_type, "data": data }).to_string()
}

/// The heaviest body the API accepts: `f(uint256[])` with 2,000 elements (~128 KiB of JSON).
pub fn largest_body() -> String {
    let selector = alloy::primitives::keccak256("f(uint256[])");
    let mut data = format!("0x{}", alloy::primitives::hex::encode(&selector[..4]));
    data.push_str(&format!("{:064x}{:064x}", 32, 2000));
    for i in 0..2000u64 {
        data.push_str(&format!("{:064x}", i * 1_000_003));
    }
    broadcast_body("f(uint256[] values)", &data)
}

/// The reported attack: a type whose decoder template is 10^10 words, with one word of data.
pub fn hostile_body() -> String {
    let selector = alloy::primitives::keccak256("f(uint256[100000][100000][])");
    let data = format!(
        "0x{}{:064x}",
        alloy::primitives::hex::encode(&selector[..4]),
        32
    );
    broadcast_body("f(uint256[100000][100000][])", &data)
}

/// The body of the common request.
pub fn add_weight_body(weight: u64) -> String {
    broadcast_body(
        ADD_WEIGHT,
        &add_weight_data(Address::repeat_byte(0x77), weight),
    )
}

/// The body of a wider request: 16 payees, 16 amounts and a memo.
pub fn wide_body() -> Result<String, BenchError> {
    let function =
        Function::parse(WIDE_CALL).map_err(|e| BenchError::Failed(format!("{WIDE_CALL}: {e}")))?;
    let payees = (0..16u8)
        .map(|i| DynSolValue::Address(Address::repeat_byte(i)))
        .collect();
    let amounts = (0..16u64)
        .map(|i| DynSolValue::Uint(U256::from(i * 1_000_000_007), 256))
        .collect();
    let data = function
        .abi_encode_input(&[
            DynSolValue::FixedBytes(B256::repeat_byte(0xba), 32),
            DynSolValue::Array(payees),
            DynSolValue::Array(amounts),
            DynSolValue::String("settlement of batch 42, second attempt".into()),
            DynSolValue::Bool(true),
        ])
        .map_err(|e| BenchError::Failed(format!("encoding {WIDE_CALL}: {e}")))?;
    Ok(broadcast_body(WIDE_CALL, &hex::encode_prefixed(data)))
}

/// The transaction the signer builds for the common request.
pub fn unsigned_transaction() -> TxEip1559 {
    let data = add_weight_data(Address::repeat_byte(0x77), 42);
    TxEip1559 {
        chain_id: 31337,
        nonce: 1234,
        gas_limit: 48_211,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(Address::repeat_byte(0x7a)),
        value: U256::ZERO,
        access_list: Default::default(),
        input: hex::decode(&data).map(Bytes::from).unwrap_or_default(),
    }
}

/// A fixed (r, s, parity) signature: encoding does not check it, and KMS is not the point.
pub fn fixed_signature() -> Signature {
    Signature::new(
        U256::from_be_bytes([0x11; 32]),
        U256::from_be_bytes([0x22; 32]),
        false,
    )
}

/// What the signer does around KMS: the hash to sign, then the signed envelope and its hash.
pub fn sign_locally(tx: TxEip1559) -> (B256, Bytes, B256) {
    let to_sign = tx.signature_hash();
    let envelope = TxEnvelope::from(tx.into_signed(fixed_signature()));
    let raw: Bytes = envelope.encoded_2718().into();
    (to_sign, raw, *envelope.tx_hash())
}

/// A confirmed transaction with a signed payload and a typical history: what the broadcaster
/// and the API read back.
pub fn confirmed_transaction() -> Transaction {
    let at =
        OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (_, raw, hash) = sign_locally(unsigned_transaction());
    let from = Address::repeat_byte(0xda);
    let entry = |event: Event| HistoryEntry {
        at,
        event,
        detail: None,
        tx_hash: Some(hash),
        attempt: None,
        next_attempt_at: None,
        backoff_ceiling_ms: None,
    };
    let data = add_weight_data(Address::repeat_byte(0x77), 42);
    Transaction {
        id: TxId::generate(),
        status: Status::Confirmed,
        message_type: ADD_WEIGHT.to_owned(),
        function_signature: "add_weight(address,uint256)".to_owned(),
        data: hex::decode(&data).map(Bytes::from).unwrap_or_default(),
        chain_id: 31337,
        client: "bench-client".parse().ok(),
        idempotency_key: Some("order-2026-01-01-000042".to_owned()),
        nonce: Some(1234),
        from: Some(from),
        signed: Some(SignedTx {
            nonce: 1234,
            from,
            to: Address::repeat_byte(0x7a),
            gas_limit: 48_211,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            hash,
            raw,
        }),
        inclusion: Some(Inclusion {
            block_number: 19_000_123,
            succeeded: true,
        }),
        attempts: 1,
        last_error: None,
        next_attempt_at: None,
        dead_lettered: false,
        generation: 0,
        history: vec![
            entry(Event::Signed),
            HistoryEntry {
                attempt: Some(1),
                detail: Some("the node is unavailable: HTTP 503: upstream busy".into()),
                backoff_ceiling_ms: Some(2_000),
                next_attempt_at: Some(at),
                tx_hash: None,
                ..entry(Event::Retry)
            },
            entry(Event::Broadcast),
            entry(Event::Confirmed),
        ],
        created_at: at,
        updated_at: at,
    }
}

/// The stored item of [`confirmed_transaction`]: the API's item plus what the signer and
/// broadcaster add with their updates (attribute names as the store writes them).
pub fn confirmed_item() -> HashMap<String, AttributeValue> {
    let tx = confirmed_transaction();
    let mut item = stored::to_item(&tx);
    let s = |v: String| AttributeValue::S(v);
    let n = |v: String| AttributeValue::N(v);
    if let Some(signed) = &tx.signed {
        item.insert("nonce".into(), n(signed.nonce.to_string()));
        item.insert("signer_address".into(), s(signed.from.to_string()));
        item.insert("target".into(), s(signed.to.to_string()));
        item.insert("tx_hash".into(), s(signed.hash.to_string()));
        item.insert("raw_tx".into(), s(signed.raw.to_string()));
        item.insert("gas_limit".into(), n(signed.gas_limit.to_string()));
        item.insert(
            "max_fee_per_gas".into(),
            n(signed.max_fee_per_gas.to_string()),
        );
        item.insert(
            "max_priority_fee_per_gas".into(),
            n(signed.max_priority_fee_per_gas.to_string()),
        );
    }
    if let Some(inclusion) = tx.inclusion {
        item.insert("block_number".into(), n(inclusion.block_number.to_string()));
    }
    item.insert(
        "history".into(),
        AttributeValue::L(
            tx.history
                .iter()
                .map(stored::history_to_attribute)
                .collect(),
        ),
    );
    item
}

/// Node error answers as nodes word them, in the mix the challenge's node produces.
pub const NODE_ERRORS: [(i64, &str); 6] = [
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

#[cfg(test)]
mod tests {
    use super::*;
    use tx_shared::validation::{MessageTypePolicy, parse_request, validate_call};

    fn verdict(body: &str) -> Result<usize, &'static str> {
        let request = parse_request(body.as_bytes()).map_err(|e| e.code())?;
        validate_call(&request, &MessageTypePolicy::allow_all())
            .map(|call| call.data.len())
            .map_err(|e| e.code())
    }

    #[test]
    fn the_bounds_benchmarks_measure_what_they_say() {
        let largest = largest_body();
        assert!(largest.len() <= tx_shared::validation::MAX_BODY_BYTES);
        assert!(largest.len() > 120 * 1024, "{}", largest.len());
        assert_eq!(verdict(&largest), Ok(4 + 64 + 2000 * 32));
        assert!(verdict(&hostile_body()).is_err());
    }
}
