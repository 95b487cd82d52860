//! The benchmarked paths, shared by the timing and the allocation benches so both measure the
//! very same code.

use std::collections::HashMap;

use alloy::consensus::TxEip1559;
use aws_sdk_dynamodb::types::AttributeValue;
use bench::fixtures;
use tx_shared::adapters::dynamo::item as stored;
use tx_shared::adapters::rpc::classify_rpc_error;
use tx_shared::domain::{Transaction, TxMessage};
use tx_shared::validation::{MessageTypePolicy, parse_request, validate_call};

/// Every input, built once.
pub(crate) struct Inputs {
    pub(crate) add_weight_body: Vec<u8>,
    pub(crate) wide_body: Vec<u8>,
    pub(crate) largest_body: Vec<u8>,
    pub(crate) hostile_body: Vec<u8>,
    pub(crate) policy: MessageTypePolicy,
    pub(crate) unsigned: TxEip1559,
    pub(crate) message: String,
    pub(crate) received: Transaction,
    pub(crate) confirmed_item: HashMap<String, AttributeValue>,
}

impl Inputs {
    pub(crate) fn new() -> Result<Inputs, bench::BenchError> {
        let mut received = fixtures::confirmed_transaction();
        received.status = tx_shared::domain::Status::Received;
        Ok(Inputs {
            add_weight_body: fixtures::add_weight_body(42).into_bytes(),
            wide_body: fixtures::wide_body()?.into_bytes(),
            largest_body: fixtures::largest_body().into_bytes(),
            hostile_body: fixtures::hostile_body().into_bytes(),
            policy: MessageTypePolicy::allow_all(),
            unsigned: fixtures::unsigned_transaction(),
            message: serde_json::to_string(&TxMessage::new(received.id)).unwrap_or_default(),
            received,
            confirmed_item: fixtures::confirmed_item(),
        })
    }
}

/// Runs benchmark `id` once; the result is returned so nothing is optimised away.
pub(crate) fn run(id: &str, inputs: &Inputs) -> usize {
    match id {
        "parse_request" => parse_request(&inputs.add_weight_body).map_or(0, |r| r.data.len()),
        "validate_add_weight" => validate(&inputs.add_weight_body, &inputs.policy),
        "validate_wide_call" => validate(&inputs.wide_body, &inputs.policy),
        "validate_largest_call" => validate(&inputs.largest_body, &inputs.policy),
        // The refusal's message: non-zero when refused, as it must be.
        "refuse_hostile_call" => parse_request(&inputs.hostile_body)
            .ok()
            .and_then(|request| validate_call(&request, &inputs.policy).err())
            .map_or(0, |e| e.code().len()),
        "build_and_hash_tx" => {
            let tx = inputs.unsigned.clone();
            alloy::consensus::SignableTransaction::signature_hash(&tx).len()
        }
        "encode_signed_tx" => fixtures::sign_locally(inputs.unsigned.clone()).1.len(),
        "classify_node_errors" => fixtures::NODE_ERRORS
            .iter()
            .map(|(code, message)| classify_rpc_error(*code, message).classify().1.len())
            .sum(),
        "parse_queue_message" => serde_json::from_str::<TxMessage>(&inputs.message)
            .map_or(0, |m| m.receipt_checks as usize + 1),
        "transaction_to_item" => stored::to_item(&inputs.received).len(),
        "transaction_from_item" => {
            stored::from_item(&inputs.confirmed_item).map_or(0, |tx| tx.history.len())
        }
        _ => 0,
    }
}

fn validate(body: &[u8], policy: &MessageTypePolicy) -> usize {
    parse_request(body)
        .ok()
        .and_then(|request| validate_call(&request, policy).ok())
        .map_or(0, |call| call.data.len())
}
