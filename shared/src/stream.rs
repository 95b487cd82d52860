//! The table's stream as Lambda hands it over: each record about a transaction, with its old
//! and new images read as transactions (once, for everyone who reads the batch).

use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};

use crate::domain::{Transaction, TxId};
use crate::metrics::Change;

/// One record about a transaction.
#[derive(Debug, Clone)]
pub struct TransactionRecord {
    pub id: TxId,
    /// `None`: an event name this release does not know.
    pub change: Option<Change>,
    /// The images, if they read as transactions of this release.
    pub old: Option<Transaction>,
    pub new: Option<Transaction>,
    /// The record's place in its shard: what a consumer reports to be handed the batch again
    /// from there (`batchItemFailures`).
    pub sequence_number: Option<String>,
}

/// The records of `event` that are about transactions, in the stream's order.
pub fn transaction_records(event: &StreamEvent) -> Vec<TransactionRecord> {
    event
        .records
        .iter()
        .filter_map(|record| {
            Some(TransactionRecord {
                id: transaction_of_record(record)?,
                change: Change::of_event_name(&record.event_name),
                old: transaction_of_image(&record.change.old_image),
                new: transaction_of_image(&record.change.new_image),
                sequence_number: record.change.sequence_number.clone(),
            })
        })
        .collect()
}

/// The transaction a stream record is about, if it is about one.
pub fn transaction_of_record(record: &EventRecord) -> Option<TxId> {
    string_attribute(&record.change.keys, "pk").and_then(crate::adapters::dynamo::transaction_of_pk)
}

/// A string attribute of a stream image.
pub fn string_attribute<'a>(image: &'a serde_dynamo::Item, name: &str) -> Option<&'a str> {
    match image.get(name) {
        Some(serde_dynamo::AttributeValue::S(value)) => Some(value.as_str()),
        _ => None,
    }
}

/// A stream image as a transaction, if it is one this release can read.
fn transaction_of_image(image: &serde_dynamo::Item) -> Option<Transaction> {
    if image.is_empty() {
        return None;
    }
    let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = image
        .iter()
        .map(|(name, value)| (name.clone(), sdk_value(value)))
        .collect();
    crate::adapters::dynamo::item::from_item(&item)
        .inspect_err(
            |e| tracing::warn!(error = %e, "a stream image that is no transaction; read instead"),
        )
        .ok()
}

/// A stream image's value (as Lambda's event carries it) as the SDK's.
fn sdk_value(value: &serde_dynamo::AttributeValue) -> aws_sdk_dynamodb::types::AttributeValue {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as Sdk;
    use serde_dynamo::AttributeValue as Stream;
    match value {
        Stream::N(n) => Sdk::N(n.clone()),
        Stream::S(s) => Sdk::S(s.clone()),
        Stream::Bool(b) => Sdk::Bool(*b),
        Stream::B(b) => Sdk::B(Blob::new(b.clone())),
        Stream::Null(b) => Sdk::Null(*b),
        Stream::M(m) => Sdk::M(m.iter().map(|(k, v)| (k.clone(), sdk_value(v))).collect()),
        Stream::L(l) => Sdk::L(l.iter().map(sdk_value).collect()),
        Stream::Ss(ss) => Sdk::Ss(ss.clone()),
        Stream::Ns(ns) => Sdk::Ns(ns.clone()),
        Stream::Bs(bs) => Sdk::Bs(bs.iter().map(|b| Blob::new(b.clone())).collect()),
    }
}
