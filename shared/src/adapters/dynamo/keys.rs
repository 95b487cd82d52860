//! The key layout and attribute values, defined once.

use super::*;

const TX_PREFIX: &str = "TX#";

pub(super) fn tx_pk(id: TxId) -> String {
    format!("{TX_PREFIX}{id}")
}

/// The transaction a `pk` names, if it names one (nonce counters, idempotency keys and
/// connections name none).
pub fn transaction_of_pk(pk: &str) -> Option<TxId> {
    pk.strip_prefix(TX_PREFIX)?.parse().ok()
}

/// A WebSocket connection of the status page: the notifier's item.
pub fn connection_pk(connection_id: &str) -> String {
    format!("CONN#{connection_id}")
}

/// The `kind` of connection items, which lists them through the `by_created` index.
pub const CONNECTION_KIND: &str = "conn";

/// Idempotency keys are the client's own: `#` can't occur in a client id, so the key is
/// unambiguous. Records of old transactions without a client keep the unscoped form.
pub(super) fn idem_pk(client: Option<&ClientId>, key: &str) -> String {
    match client {
        Some(client) => format!("IDEM#{client}#{key}"),
        None => format!("IDEM#{key}"),
    }
}

pub(super) fn progress_pk(chain_id: u64, minute: i64) -> String {
    format!("PROGRESS#{chain_id}#{minute}")
}

pub(super) fn nodes_pk(chain_id: u64) -> String {
    format!("NODES#{chain_id}")
}

pub(super) fn nonce_pk(account: Account) -> String {
    format!("NONCE#{}#{:#x}", account.chain_id, account.address)
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

pub(super) fn now_rfc3339() -> String {
    format_time(OffsetDateTime::now_utc())
}

pub(super) fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub(super) fn put_if_absent(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}
