//! Every store role ([`crate::ports::TransactionStore`]) over one DynamoDB table, one file per
//! concern:
//!
//! | file | what |
//! | --- | --- |
//! | `keys.rs` | the key layout and attribute values |
//! | `mapping.rs` | items to transactions and back |
//! | `change.rs` | one conditional update, built from parts |
//! | `intake.rs` | [`Intake`]: new requests and their idempotency keys |
//! | `reading.rs` | [`Reading`]: one, a page, counts, the overdue; cursors |
//! | `lease.rs` | [`SigningLease`]: the right to sign, and the signature |
//! | `nonce.rs` | [`NonceCounter`]: the account's counter and its races |
//! | `transitions.rs` | [`Transitions`]: every other status move |
//! | `webhooks.rs` | [`crate::ports::WebhookStore`]: endpoints and delivery logs |
//!
//! Items, all keyed by `pk`:
//! - `TX#<id>`: a transaction. `kind = "tx"` puts it in the `by_created` index (newest first by
//!   id, a UUID v7), `status` in the `by_status` index, and `client_id` in the `by_client` one.
//! - `IDEM#<client>#<key>`: a client's idempotency key and the transaction it created (expires
//!   via TTL).
//! - `NONCE#<chain>#<address>`: the next nonce of a signing account.
//! - `CONN#<id>`: an open WebSocket connection of the status page (the notifier's).
//!
//! And in the webhook table (`webhooks.rs`; the main table where none is given):
//! - `HOOKS#<client>`: a client's webhook endpoints and their secrets.
//! - `HOOKLOG#<id>`: a transaction's webhook events and delivery attempts.
//!
//! Every status change is a conditional update from the expected status, so a stale or
//! duplicated message can never move a transaction backwards.

mod change;
mod intake;
mod keys;
mod lease;
mod mapping;
mod nonce;
mod nonce_groups;
mod progress;
mod reading;
mod transitions;
mod webhooks;

pub use keys::{CONNECTION_KIND, connection_pk, transaction_of_pk};
/// The stored item of a transaction, for tools that read or build the table directly.
pub mod item {
    pub use super::mapping::{from_item, history_to_attribute, to_item};
}

use change::Change;
use keys::*;
use mapping::*;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Delete, Put, ReturnValue,
    ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::ClientId;
use crate::aws::describe;
use crate::domain::{
    Event, HistoryEntry, Inclusion, NewTransaction, SignedTx, Status, Transaction, TxId,
};
use crate::lanes::{LaneReport, LaneState};
use crate::ports::{
    Account, AdminRetry, Claim, CountScope, CounterState, Inserted, Intake, LeaseToken, ListQuery,
    NonceCounter, NonceReservation, Page, Reading, RetryRecord, SigningLease, StatusCounts,
    StoreError, Transitions,
};

type Item = HashMap<String, AttributeValue>;

/// Name of the index listing every transaction, newest first.
pub const INDEX_BY_CREATED: &str = "by_created";
/// Name of the index listing transactions of one status, newest first.
pub const INDEX_BY_STATUS: &str = "by_status";
/// Name of the index listing one client's transactions, newest first: a client's listing,
/// search and counts read only its own items (and its cursors name only its own).
pub const INDEX_BY_CLIENT: &str = "by_client";
/// Transactions by the account and nonce they hold (`nonce_account`, `nonce`): sparse, only
/// items with a nonce. The watchdog compares it with the chain.
pub const INDEX_BY_NONCE: &str = "by_nonce";
/// At most this many index entries are read for one filtered page; the cursor goes on from there.
const MAX_SCANNED_PER_PAGE: usize = 5_000;
/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);
const TX_KIND: &str = "tx";
/// How long a signer keeps retrying when others race it for the same nonce counter.
const NONCE_CONTENTION_BUDGET: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Webhook endpoints and delivery logs: a table of their own on AWS (no stream to feed,
    /// readable only by the api and the webhooks function); the main table unless told.
    hooks_table: String,
    /// This process's reservations waiting for each lane's counter: written together, a group
    /// per write, instead of racing each other for the counter (every lost race is a
    /// cancelled, billed transactional write). Other processes still race through the
    /// counter's condition.
    nonce_groups: Arc<nonce_groups::NonceGroups>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        DynamoStore {
            client,
            hooks_table: table.clone(),
            table,
            nonce_groups: Arc::default(),
        }
    }

    /// The same store, keeping webhook endpoints and delivery logs in `table`.
    pub fn with_webhook_table(self, table: impl Into<String>) -> Self {
        DynamoStore {
            hooks_table: table.into(),
            ..self
        }
    }

    async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        self.get_item_in(&self.table, pk).await
    }

    async fn get_item_in(&self, table: &str, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    async fn get_tx(&self, id: TxId) -> Result<Option<Transaction>, StoreError> {
        self.get_item(tx_pk(id))
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    /// Applies one conditional change to a transaction. `Ok(false)`: its condition did not hold.
    async fn apply(&self, id: TxId, change: Change) -> Result<bool, StoreError> {
        let (update, condition, names, values) = change.render();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tx_pk(id)))
            .update_expression(update)
            .condition_expression(condition)
            // DynamoDB refuses an empty name map.
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        applied(result)
    }

    /// Applies a change to a transaction that must exist; a lost condition means it does not.
    async fn apply_to_existing(&self, id: TxId, change: Change) -> Result<(), StoreError> {
        if self.apply(id, change).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound(id))
        }
    }

    /// Applies a change that moves the transaction to `to`; a lost condition is a conflict.
    async fn advance(&self, id: TxId, to: Status, change: Change) -> Result<(), StoreError> {
        self.apply_or_conflict(id, change.to(to), to).await
    }

    /// [`Self::apply`], a condition that did not hold reported as a lost race towards `to`.
    async fn apply_or_conflict(
        &self,
        id: TxId,
        change: Change,
        to: Status,
    ) -> Result<(), StoreError> {
        if self.apply(id, change).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict { id, to })
        }
    }
}

/// `Ok(true)` if a conditional write was applied, `Ok(false)` if its condition did not hold.
fn applied<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_conditional_failure(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

fn is_conditional_failure<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn is_transaction_canceled<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "TransactionCanceledException")
}

fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(describe(&err))
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Corrupt(format!("invalid DynamoDB request: {err}"))
}
