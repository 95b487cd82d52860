//! [`TransactionStore`] over one DynamoDB table.
//!
//! Items, all keyed by `pk`:
//! - `TX#<id>`: a transaction. `kind = "tx"` puts it in the `by_created` index (newest first by
//!   id, a UUID v7), and `status` puts it in the `by_status` index.
//! - `IDEM#<key>`: an idempotency key and the transaction it created (expires via TTL).
//! - `NONCE#<chain>#<address>`: the next nonce of a signing account.
//!
//! Every status change is a conditional update from the expected status, so a stale or
//! duplicated message can never move a transaction backwards.

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
use crate::ports::{
    Account, AdminRetry, Claim, Inserted, LeaseToken, ListQuery, NonceReservation, Page,
    RetryRecord, StatusCounts, StoreError, TransactionStore,
};

type Item = HashMap<String, AttributeValue>;

/// Name of the index listing every transaction, newest first.
pub const INDEX_BY_CREATED: &str = "by_created";
/// Name of the index listing transactions of one status, newest first.
pub const INDEX_BY_STATUS: &str = "by_status";
/// Name of the index listing one client's transactions, newest first: a client's listing,
/// search and counts read only its own items (and its cursors name only its own).
pub const INDEX_BY_CLIENT: &str = "by_client";
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
    /// Taken while this process reserves a nonce: the records of one invocation take their
    /// nonces one after another instead of racing each other for the counter (every lost race is
    /// a cancelled, billed transactional write). Other processes still race through the
    /// counter's condition.
    nonce_turn: Arc<tokio::sync::Mutex<()>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            nonce_turn: Arc::default(),
        }
    }

    async fn get_item(&self, pk: String) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// A query of the transactions in `status`, through the status index.
    /// One client's counts: its own partition, read once, only the status of each item.
    async fn count_client_by_status(
        &self,
        cap: u64,
        client: &ClientId,
    ) -> Result<StatusCounts, StoreError> {
        let mut counts: Vec<(Status, u64)> = Status::ALL.iter().map(|s| (*s, 0)).collect();
        let mut read: u64 = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_CLIENT)
                .key_condition_expression("client_id = :client")
                .expression_attribute_values(":client", s(client.as_str()))
                .projection_expression("#st")
                .expression_attribute_names("#st", "status")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                read += 1;
                let status: Status = parse_attr(&item, "status")?;
                if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == status) {
                    *n += 1;
                }
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(_) if read >= cap => {
                    return Ok(StatusCounts {
                        counts,
                        capped: true,
                    });
                }
                Some(key) => start = Some(key),
                None => {
                    return Ok(StatusCounts {
                        counts,
                        capped: false,
                    });
                }
            }
        }
    }

    fn status_query(
        &self,
        status: Status,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_STATUS)
            .key_condition_expression("#status = :status")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
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
        if self.apply(id, change.to(to)).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict { id, to })
        }
    }
}

/// One conditional `UpdateItem` on a transaction, built from parts so every write states its
/// guard, refreshes `updated_at`, and can append to the history in the same request.
#[derive(Default)]
struct Change {
    set: Vec<String>,
    remove: Vec<&'static str>,
    conditions: Vec<String>,
    values: Item,
    history: Option<HistoryEntry>,
    to: Option<Status>,
    /// Narrower sources than the machine allows, where the writer needs them.
    only_from: Option<Vec<Status>>,
}

impl Change {
    fn new() -> Self {
        Change::default()
    }

    /// Moves to `to`, guarded by the statuses the machine allows it from.
    fn to(mut self, to: Status) -> Self {
        self.to = Some(to);
        self
    }

    /// Narrows the guard of [`Change::to`] to these statuses.
    fn only_from(mut self, from: &[Status]) -> Self {
        self.only_from = Some(from.to_vec());
        self
    }

    fn set(mut self, attribute: &'static str, value: AttributeValue) -> Self {
        self.set.push(format!("{attribute} = :{attribute}"));
        self.values.insert(format!(":{attribute}"), value);
        self
    }

    fn add_one(mut self, attribute: &'static str) -> Self {
        self.set.push(format!(
            "{attribute} = if_not_exists({attribute}, :zero_{attribute}) + :one_{attribute}"
        ));
        self.values.insert(format!(":zero_{attribute}"), n(0));
        self.values.insert(format!(":one_{attribute}"), n(1));
        self
    }

    fn remove(mut self, attribute: &'static str) -> Self {
        self.remove.push(attribute);
        self
    }

    /// An extra guard; its placeholders are given in `values`.
    fn when(
        mut self,
        condition: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> Self {
        self.conditions.push(format!("({condition})"));
        self.values
            .extend(values.into_iter().map(|(k, v)| (k.to_owned(), v)));
        self
    }

    fn log(mut self, entry: HistoryEntry) -> Self {
        self.history = Some(entry);
        self
    }

    fn render(mut self) -> (String, String, HashMap<String, String>, Item) {
        let mut names = HashMap::new();
        self.values.insert(":updated_at".into(), s(now_rfc3339()));
        self.set.push("updated_at = :updated_at".into());
        if let Some(to) = self.to {
            names.insert("#status".to_owned(), "status".to_owned());
            self.set.push("#status = :to_status".into());
            self.values.insert(":to_status".into(), s(to.as_str()));
            let allowed = Status::sources_of(to);
            let sources: Vec<String> = self
                .only_from
                .clone()
                .unwrap_or(allowed.clone())
                .iter()
                .filter(|from| allowed.contains(from))
                .enumerate()
                .map(|(i, from)| {
                    let key = format!(":from_{i}");
                    self.values.insert(key.clone(), s(from.as_str()));
                    key
                })
                .collect();
            self.conditions
                .push(format!("#status IN ({})", sources.join(", ")));
        } else {
            self.conditions.push("attribute_exists(pk)".into());
        }
        if let Some(entry) = &self.history {
            self.set
                .push("history = list_append(if_not_exists(history, :no_history), :entry)".into());
            self.values
                .insert(":no_history".into(), AttributeValue::L(Vec::new()));
            self.values.insert(
                ":entry".into(),
                AttributeValue::L(vec![history_to_attribute(entry)]),
            );
        }
        if self.conditions.iter().any(|c| c.contains("#status")) {
            names.insert("#status".to_owned(), "status".to_owned());
        }
        let mut update = format!("SET {}", self.set.join(", "));
        if !self.remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", self.remove.join(", ")));
        }
        (update, self.conditions.join(" AND "), names, self.values)
    }
}

impl TransactionStore for DynamoStore {
    async fn insert_new(&self, new: &NewTransaction) -> Result<Inserted, StoreError> {
        let tx = Transaction::received(new);
        let item = to_item(&tx);
        let Some(idempotency) = &new.idempotency else {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            return match result {
                Ok(_) => Ok(Inserted::Created(tx)),
                // A v7 id collision is practically impossible; refuse rather than overwrite.
                Err(e) if is_conditional_failure(&e) => Err(StoreError::Unavailable(format!(
                    "transaction id {} already exists",
                    new.id
                ))),
                Err(e) => Err(unavailable(e)),
            };
        };

        let expires_at =
            OffsetDateTime::now_utc().unix_timestamp() + IDEMPOTENCY_TTL.as_secs() as i64;
        let idem_item: Item = HashMap::from([
            ("pk".into(), s(idem_pk(Some(&new.client), &idempotency.key))),
            ("transaction_id".into(), s(new.id.to_string())),
            (
                "fingerprint".into(),
                s(idempotency.request_fingerprint.to_string()),
            ),
            ("expires_at".into(), n(expires_at)),
        ]);
        let result = self
            .client
            .transact_write_items()
            .transact_items(put_if_absent(&self.table, item)?)
            .transact_items(put_if_absent(&self.table, idem_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Inserted::Created(tx)),
            Err(e) if is_transaction_canceled(&e) => {
                // The key exists: answer with what it created, if the request is the same.
                let Some(existing) = self
                    .get_item(idem_pk(Some(&new.client), &idempotency.key))
                    .await?
                else {
                    return Err(StoreError::Unavailable(
                        "idempotency record changed concurrently; retry".into(),
                    ));
                };
                let existing_id: TxId = parse_attr(&existing, "transaction_id")?;
                let fingerprint: B256 = parse_attr(&existing, "fingerprint")?;
                if fingerprint != idempotency.request_fingerprint {
                    return Err(StoreError::IdempotencyConflict {
                        existing: existing_id,
                    });
                }
                match self.get_tx(existing_id).await? {
                    Some(tx) => Ok(Inserted::Duplicate(tx)),
                    None => Err(StoreError::Unavailable(
                        "the transaction of this idempotency key is being removed; retry".into(),
                    )),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, id: TxId) -> Result<Option<Transaction>, StoreError> {
        self.get_tx(id).await
    }

    async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        let (index, key_name, key_value) = match (&query.client, query.status) {
            (Some(client), _) => (INDEX_BY_CLIENT, "client_id", client.as_str()),
            (None, Some(status)) => (INDEX_BY_STATUS, "status", status.as_str()),
            (None, None) => (INDEX_BY_CREATED, "kind", TX_KIND),
        };
        let limit = query.limit.clamp(1, 1000) as usize;
        let mut start = query
            .cursor
            .as_deref()
            .map(|cursor| decode_cursor(cursor, key_name, key_value))
            .transpose()?;
        // Ids are UUID v7: a creation-time range is a range of ids.
        let mut key_condition = "#k = :v".to_owned();
        let mut values: Item = HashMap::from([(":v".to_owned(), s(key_value))]);
        if query.from.is_some() || query.to.is_some() {
            let (low, high) = (id_bound(query.from, false), id_bound(query.to, true));
            // DynamoDB refuses a start key outside the key condition: that is the caller's
            // cursor being wrong for this range, not the store being down.
            let cursor_id = start
                .as_ref()
                .and_then(|key| key.get("id"))
                .and_then(|id| id.as_s().ok());
            if cursor_id.is_some_and(|id| *id < low || *id > high) {
                return Err(StoreError::InvalidCursor(
                    "it belongs to a different listing (the date range changed?)".into(),
                ));
            }
            key_condition.push_str(" AND id BETWEEN :id_from AND :id_to");
            values.insert(":id_from".into(), s(low));
            values.insert(":id_to".into(), s(high));
        }
        let mut filters = Vec::new();
        let mut names: HashMap<String, String> = HashMap::from([("#k".into(), key_name.into())]);
        // A client's partition holds every status of its own.
        if let (Some(_), Some(status)) = (&query.client, query.status) {
            filters.push("#st = :status");
            names.insert("#st".into(), "status".into());
            values.insert(":status".into(), s(status.as_str()));
        }
        if let Some(signature) = &query.function_signature {
            filters.push("function_signature = :signature");
            values.insert(":signature".into(), s(signature));
        }
        if let Some(hash) = query.tx_hash {
            filters.push("tx_hash = :hash");
            values.insert(":hash".into(), s(hash.to_string()));
        }
        let mut items = Vec::new();
        let mut scanned = 0;
        let next_cursor = loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&key_condition)
                .set_filter_expression((!filters.is_empty()).then(|| filters.join(" AND ")))
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit(if filters.is_empty() {
                    (limit - items.len()) as i32
                } else {
                    200
                })
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            scanned += out.scanned_count.max(0) as usize;
            let mut page = out.items.unwrap_or_default().into_iter();
            for item in page.by_ref() {
                items.push(item);
                if items.len() == limit {
                    break;
                }
            }
            let more_in_page = page.next().is_some();
            let last_key = out.last_evaluated_key.filter(|key| !key.is_empty());
            if items.len() == limit && (more_in_page || last_key.is_some()) {
                // Continue right after the last item shown.
                break items
                    .last()
                    .map(|item| cursor_key(item, key_name))
                    .transpose()?;
            }
            match last_key {
                None => break None,
                // A filter that matches little must not scan the whole index in one request.
                Some(key) if scanned >= MAX_SCANNED_PER_PAGE => break Some(key),
                Some(key) => start = Some(key),
            }
        };
        Ok(Page {
            items: items.iter().map(from_item).collect::<Result<Vec<_>, _>>()?,
            next_cursor: next_cursor.map(|key| encode_cursor(&key)).transpose()?,
        })
    }

    async fn count_by_status(
        &self,
        cap: u64,
        client: Option<&ClientId>,
    ) -> Result<StatusCounts, StoreError> {
        if let Some(client) = client {
            return self.count_client_by_status(cap, client).await;
        }
        let mut counts = Vec::new();
        let mut capped = false;
        for status in Status::ALL {
            let mut count: u64 = 0;
            let mut start: Option<Item> = None;
            loop {
                let out = self
                    .status_query(status)
                    .select(aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(unavailable)?;
                count += out.count.max(0) as u64;
                match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                    Some(_) if count >= cap => {
                        capped = true;
                        break;
                    }
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
            counts.push((status, count));
        }
        Ok(StatusCounts { counts, capped })
    }

    async fn discard_unpublished(&self, tx: &Transaction) -> Result<bool, StoreError> {
        let delete_tx = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(tx_pk(tx.id)))
            .condition_expression(
                "#status = :received AND attribute_not_exists(nonce) AND attribute_not_exists(lease_token)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":received", s(Status::Received.as_str()))
            .build()
            .map_err(build_error)?;
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().delete(delete_tx).build());
        if let Some(key) = &tx.idempotency_key {
            let delete_key = Delete::builder()
                .table_name(&self.table)
                .key("pk", s(idem_pk(tx.client.as_ref(), key)))
                .condition_expression("transaction_id = :id")
                .expression_attribute_values(":id", s(tx.id.to_string()))
                .build()
                .map_err(build_error)?;
            request =
                request.transact_items(TransactWriteItem::builder().delete(delete_key).build());
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_transaction_canceled(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn claim_for_signing(&self, id: TxId, lease: Duration) -> Result<Claim, StoreError> {
        let now = now_millis();
        let token = LeaseToken(format!("{:032x}", rand::random::<u128>()));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tx_pk(id)))
            .update_expression(
                "SET lease_token = :token, lease_until = :until, updated_at = :now_text",
            )
            .condition_expression(
                "#status IN (:received, :retrying) AND attribute_not_exists(tx_hash) \
                 AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":received", s(Status::Received.as_str()))
            .expression_attribute_values(":retrying", s(Status::Retrying.as_str()))
            .expression_attribute_values(":token", s(&token.0))
            .expression_attribute_values(":until", n(now + lease.as_millis() as i64))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":now_text", s(now_rfc3339()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes
                    .ok_or_else(|| StoreError::Corrupt("claim returned no attributes".into()))?;
                Ok(Claim::Granted {
                    tx: from_item(&item)?,
                    token,
                })
            }
            Err(e) if is_conditional_failure(&e) => Ok(match self.get_tx(id).await? {
                None => Claim::Missing,
                Some(tx)
                    if tx.signed.is_some()
                        || !matches!(tx.status, Status::Received | Status::Retrying) =>
                {
                    Claim::AlreadySigned(tx)
                }
                Some(_) => Claim::Held,
            }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release_claim(&self, id: TxId, token: &LeaseToken) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(tx_pk(id)))
            .update_expression("REMOVE lease_token, lease_until")
            .condition_expression("lease_token = :token")
            .expression_attribute_values(":token", s(&token.0))
            .send()
            .await;
        // Not applied: the lease is not ours any more, so there is nothing to release.
        applied(result).map(|_| ())
    }

    async fn reserve_nonce(
        &self,
        id: TxId,
        token: &LeaseToken,
        account: Account,
    ) -> Result<NonceReservation, StoreError> {
        // The budget covers the wait for this process's turn too: a record never waits longer
        // than it in all, however slow the records ahead of it are.
        let deadline = tokio::time::Instant::now() + NONCE_CONTENTION_BUDGET;
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.nonce_turn.lock()).await else {
            return Err(StoreError::Unavailable(format!(
                "waited {NONCE_CONTENTION_BUDGET:?} for this process's turn at the nonce counter of {}",
                account.address
            )));
        };
        // The transaction is no longer ours to number: its lease ran out, or it moved on.
        let lost = || StoreError::Conflict {
            id,
            to: Status::Signed,
        };
        let mut attempt: u64 = 0;
        // The counter's value, when the last lost race told it (no need to read it again).
        let mut told: Option<u64> = None;
        while tokio::time::Instant::now() < deadline {
            attempt += 1;
            let next = match told.take() {
                Some(next) => next,
                None => match self.get_item(nonce_pk(account)).await? {
                    Some(counter) => parse_attr(&counter, "next_nonce")?,
                    None => return Ok(NonceReservation::Uninitialized),
                },
            };
            let bump = Update::builder()
                .table_name(&self.table)
                .key("pk", s(nonce_pk(account)))
                .update_expression("SET next_nonce = :after")
                .condition_expression("next_nonce = :current")
                .expression_attribute_values(":current", n(next))
                .expression_attribute_values(":after", n(next + 1))
                // A lost race returns the counter as it is now.
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            let assign = Update::builder()
                .table_name(&self.table)
                .key("pk", s(tx_pk(id)))
                .update_expression(
                    "SET nonce = :nonce, signer_address = :signer, updated_at = :now",
                )
                .condition_expression(
                    "#status IN (:received, :retrying) AND lease_token = :token AND attribute_not_exists(nonce)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":received", s(Status::Received.as_str()))
                .expression_attribute_values(":retrying", s(Status::Retrying.as_str()))
                .expression_attribute_values(":token", s(&token.0))
                .expression_attribute_values(":nonce", n(next))
                .expression_attribute_values(":signer", s(account.address.to_string()))
                .expression_attribute_values(":now", s(now_rfc3339()))
                .build()
                .map_err(build_error)?;
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(bump).build())
                .transact_items(TransactWriteItem::builder().update(assign).build())
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(NonceReservation::Assigned(next)),
                Err(e) => e,
            };
            match NonceRace::of(&err) {
                NonceRace::NotCanceled => return Err(unavailable(err)),
                NonceRace::TransactionMoved => return Err(lost()),
                NonceRace::CounterMoved(now) => {
                    tracing::debug!(attempt, counter = ?now, "another signer took nonce {next}");
                    told = now;
                    continue;
                }
                NonceRace::Unexplained => {
                    // No reasons to go by (e.g. a conflicting transaction in flight): read the
                    // transaction to know whether it is still ours, and back off a little.
                    let still_ours = self.get_tx(id).await?.is_some_and(|tx| {
                        matches!(tx.status, Status::Received | Status::Retrying)
                            && tx.nonce.is_none()
                    });
                    if !still_ours {
                        return Err(lost());
                    }
                    let jitter = rand::random_range(0..=(5 + 3 * attempt).min(50));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
            }
        }
        Err(StoreError::Unavailable(format!(
            "nonce counter of {} still contended after {attempt} attempts",
            account.address
        )))
    }

    async fn seed_nonce(&self, account: Account, next: u64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(nonce_pk(account)))
            .item("chain_id", n(account.chain_id))
            .item("signer_address", s(account.address.to_string()))
            .item("next_nonce", n(next))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Not applied: the counter exists already, which is all we wanted.
        applied(result).map(|_| ())
    }

    async fn resync_nonce(
        &self,
        account: Account,
        chain_next: u64,
    ) -> Result<Option<u64>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(nonce_pk(account)))
            .update_expression("SET next_nonce = :chain")
            .condition_expression("attribute_exists(pk) AND next_nonce < :chain")
            .expression_attribute_values(":chain", n(chain_next))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .attributes
                .and_then(|old| parse_opt::<u64>(&old, "next_nonce").ok().flatten())),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn record_signed(
        &self,
        id: TxId,
        token: &LeaseToken,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let change = signed_fields(Change::new(), signed)
            .remove("lease_token")
            .remove("lease_until")
            .remove("next_attempt_at")
            .when(
                "lease_token = :token AND nonce = :nonce AND attribute_not_exists(tx_hash)",
                [(":token", s(&token.0))],
            )
            .log(
                HistoryEntry::now(Event::Signed)
                    .hash(signed.hash)
                    .detail(format!(
                        "nonce {}, max fee {} wei, priority fee {} wei, gas limit {}",
                        signed.nonce,
                        signed.max_fee_per_gas,
                        signed.max_priority_fee_per_gas,
                        signed.gas_limit
                    )),
            );
        self.advance(id, Status::Signed, change).await
    }

    async fn record_broadcast(&self, id: TxId) -> Result<(), StoreError> {
        let change = Change::new()
            .when("attribute_exists(tx_hash)", [])
            .remove("next_attempt_at")
            .log(HistoryEntry::now(Event::Broadcast));
        self.advance(id, Status::Broadcast, change).await
    }

    async fn record_replacement(
        &self,
        id: TxId,
        old: B256,
        signed: &SignedTx,
    ) -> Result<(), StoreError> {
        let change = signed_fields(Change::new(), signed)
            .when(
                "#status = :broadcast AND tx_hash = :old_hash AND nonce = :nonce",
                [
                    (":broadcast", s(Status::Broadcast.as_str())),
                    (":old_hash", s(old.to_string())),
                ],
            )
            .log(
                HistoryEntry::now(Event::Replaced)
                    .hash(signed.hash)
                    .detail(format!(
                        "replaces {old}: max fee {} wei, priority fee {} wei",
                        signed.max_fee_per_gas, signed.max_priority_fee_per_gas
                    )),
            );
        if self.apply(id, change).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                id,
                to: Status::Broadcast,
            })
        }
    }

    async fn record_inclusion(
        &self,
        id: TxId,
        inclusion: Inclusion,
        hash: B256,
    ) -> Result<(), StoreError> {
        let (to, event) = if inclusion.succeeded {
            (Status::Confirmed, Event::Confirmed)
        } else {
            (Status::Reverted, Event::Reverted)
        };
        let change = Change::new()
            .set("block_number", n(inclusion.block_number))
            .set("included_hash", s(hash.to_string()))
            .remove("next_attempt_at")
            .log(
                HistoryEntry::now(event)
                    .hash(hash)
                    .detail(format!("block {}", inclusion.block_number)),
            );
        self.advance(id, to, change).await
    }

    async fn record_retry(&self, id: TxId, retry: &RetryRecord) -> Result<(), StoreError> {
        let mut entry = HistoryEntry::now(Event::Retry).detail(&retry.reason);
        entry.attempt = Some(retry.attempt);
        entry.next_attempt_at = Some(retry.next_attempt_at);
        entry.backoff_ceiling_ms = Some(retry.backoff_ceiling.as_millis() as u64);
        let change = Change::new()
            .set("last_error", s(crate::redact::scrub(&retry.reason)))
            .set("next_attempt_at", s(format_time(retry.next_attempt_at)))
            .set("attempts", n(retry.attempt))
            // A consumer's retry; only an operator revives `needs_review` or `reverted`.
            .only_from(&[Status::Received, Status::Retrying, Status::Signed])
            .log(entry);
        self.advance(id, Status::Retrying, change).await
    }

    async fn record_wait(
        &self,
        id: TxId,
        reason: &str,
        next_attempt_at: OffsetDateTime,
        generation: u32,
    ) -> Result<(), StoreError> {
        let reason = crate::redact::scrub(reason);
        let waiting = || {
            Change::new()
                .set("last_error", s(&reason))
                .set("next_attempt_at", s(format_time(next_attempt_at)))
                .only_from(&[Status::Received, Status::Retrying, Status::Signed])
                .when(
                    "attribute_not_exists(generation) OR generation <= :generation",
                    [(":generation", n(generation))],
                )
        };
        // A wait can last days, one check a minute: the history says when it started and
        // when its reason changed, not every check, so the item never outgrows DynamoDB's
        // 400 KB.
        let mut entry = HistoryEntry::now(Event::Retry).detail(format!("waiting: {reason}"));
        entry.next_attempt_at = Some(next_attempt_at);
        let first = waiting()
            .when(
                "attribute_not_exists(last_error) OR last_error <> :waiting_reason",
                [(":waiting_reason", s(&reason))],
            )
            .log(entry);
        if self.apply(id, first.to(Status::Retrying)).await? {
            return Ok(());
        }
        self.advance(id, Status::Retrying, waiting()).await
    }

    async fn record_needs_review(&self, id: TxId, reason: &str) -> Result<(), StoreError> {
        let change = Change::new()
            .set("last_error", s(crate::redact::scrub(reason)))
            .remove("next_attempt_at")
            .log(HistoryEntry::now(Event::NeedsReview).detail(reason));
        self.advance(id, Status::NeedsReview, change).await
    }

    async fn record_reverted_unsent(&self, id: TxId, reason: &str) -> Result<(), StoreError> {
        let change = Change::new()
            .set("last_error", s(crate::redact::scrub(reason)))
            .remove("next_attempt_at")
            .when("attribute_not_exists(tx_hash)", [])
            .log(HistoryEntry::now(Event::Reverted).detail(format!("not sent: {reason}")));
        self.advance(id, Status::Reverted, change).await
    }

    async fn schedule(&self, id: TxId, next_attempt_at: OffsetDateTime) -> Result<(), StoreError> {
        let change = Change::new().set("next_attempt_at", s(format_time(next_attempt_at)));
        self.apply_to_existing(id, change).await
    }

    async fn record_dead_letter(
        &self,
        id: TxId,
        queue: &str,
        message_id: &str,
        generation: u32,
    ) -> Result<(), StoreError> {
        let reason =
            format!("its message exhausted its deliveries and is in the dead-letter queue {queue}");
        // Once per message: a kept message comes back to the consumer every 12 hours, and must
        // not throw a transaction an operator has retried since back into review.
        let flag = Change::new()
            .set("dead_lettered", AttributeValue::Bool(true))
            .set("dead_letter_message_id", s(message_id))
            .when(
                "attribute_not_exists(dead_letter_message_id) OR dead_letter_message_id <> :message_id",
                [(":message_id", s(message_id))],
            )
            .log(HistoryEntry::now(Event::DeadLettered).detail(format!("{queue}, message {message_id}")));
        if !self.apply(id, flag).await? {
            return match self.get_tx(id).await? {
                None => Err(StoreError::NotFound(id)),
                Some(_) => Ok(()),
            };
        }
        // Only a dead letter of the current generation means the transaction needs review: an
        // older one died before an operator's retry that is still under way.
        let review = Change::new()
            .set("last_error", s(crate::redact::scrub(&reason)))
            .remove("next_attempt_at")
            .when(
                "attribute_not_exists(generation) OR generation <= :generation",
                [(":generation", n(generation))],
            )
            .log(HistoryEntry::now(Event::NeedsReview).detail(&reason));
        match self.advance(id, Status::NeedsReview, review).await {
            // Final already, under review, or retried since: the flag above is all there is to say.
            Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn record_admin_retry(
        &self,
        id: TxId,
        seen: Status,
        action: AdminRetry,
        by: &str,
    ) -> Result<(), StoreError> {
        let now = s(now_rfc3339());
        let entry = |what: &str| {
            HistoryEntry::now(Event::RetryRequested).detail(format!("by {by}: {what}"))
        };
        let change = match action {
            AdminRetry::SkipWait => Change::new()
                .when(
                    "#status = :retrying",
                    [(":retrying", s(Status::Retrying.as_str()))],
                )
                .set("next_attempt_at", now)
                .log(entry("next attempt now instead of after the backoff")),
            AdminRetry::ResendSigned => Change::new()
                .to(Status::Retrying)
                .only_from(&[seen])
                .when("attribute_exists(tx_hash)", [])
                .set("next_attempt_at", now)
                .log(entry(
                    "re-send the same signed transaction; its nonce is still open",
                )),
            AdminRetry::ResignFresh => Change::new()
                .to(Status::Retrying)
                .only_from(&[seen])
                .set("next_attempt_at", now)
                .remove("nonce")
                .remove("signer_address")
                .remove("tx_hash")
                .remove("raw_tx")
                .remove("target")
                .remove("gas_limit")
                .remove("max_fee_per_gas")
                .remove("max_priority_fee_per_gas")
                .remove("block_number")
                .remove("included_hash")
                .remove("lease_token")
                .remove("lease_until")
                .log(entry("sign again with a fresh nonce; the old one is gone")),
        }
        .add_one("generation");
        if self.apply(id, change).await? {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                id,
                to: Status::Retrying,
            })
        }
    }

    async fn record_event(&self, id: TxId, entry: HistoryEntry) -> Result<(), StoreError> {
        self.apply_to_existing(id, Change::new().log(entry)).await
    }

    async fn list_overdue(
        &self,
        status: Status,
        due_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Transaction>, StoreError> {
        let cutoff = s(format_time(due_before));
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        // Filters apply after the page limit, so page through until enough or the end.
        loop {
            let out = self
                .status_query(status)
                .filter_expression(
                    "next_attempt_at < :cutoff OR (attribute_not_exists(next_attempt_at) AND updated_at < :cutoff)",
                )
                .expression_attribute_values(":cutoff", cutoff.clone())
                .limit(100)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                found.push(from_item(&item)?);
            }
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(next) if found.len() < limit as usize => start = Some(next),
                _ => break,
            }
        }
        found.truncate(limit as usize);
        Ok(found)
    }
}

/// The fields of a signed transaction, as stored.
fn signed_fields(change: Change, signed: &SignedTx) -> Change {
    change
        .set("tx_hash", s(signed.hash.to_string()))
        .set("raw_tx", s(signed.raw.to_string()))
        .set("target", s(signed.to.to_string()))
        .set("gas_limit", n(signed.gas_limit))
        .set("max_fee_per_gas", n(signed.max_fee_per_gas))
        .set(
            "max_priority_fee_per_gas",
            n(signed.max_priority_fee_per_gas),
        )
        .when("nonce = :nonce", [(":nonce", n(signed.nonce))])
}

fn history_to_attribute(entry: &HistoryEntry) -> AttributeValue {
    let mut map: Item = HashMap::from([
        ("at".to_owned(), s(format_time(entry.at))),
        ("event".to_owned(), s(entry.event.as_str())),
    ]);
    if let Some(detail) = &entry.detail {
        // Details are shown to readers of the transaction: no URL, ARN or secret.
        map.insert("detail".into(), s(crate::redact::scrub(detail)));
    }
    if let Some(hash) = entry.tx_hash {
        map.insert("tx_hash".into(), s(hash.to_string()));
    }
    if let Some(attempt) = entry.attempt {
        map.insert("attempt".into(), n(attempt));
    }
    if let Some(at) = entry.next_attempt_at {
        map.insert("next_attempt_at".into(), s(format_time(at)));
    }
    if let Some(ms) = entry.backoff_ceiling_ms {
        map.insert("backoff_ceiling_ms".into(), n(ms));
    }
    AttributeValue::M(map)
}

fn history_from_attribute(value: &AttributeValue) -> Result<HistoryEntry, StoreError> {
    let AttributeValue::M(map) = value else {
        return Err(StoreError::Corrupt("history entry is not a map".into()));
    };
    Ok(HistoryEntry {
        at: parse_time(map, "at")?,
        event: parse_attr(map, "event")?,
        detail: parse_opt(map, "detail")?,
        tx_hash: parse_opt(map, "tx_hash")?,
        attempt: parse_opt(map, "attempt")?,
        next_attempt_at: parse_opt::<String>(map, "next_attempt_at")?
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339)
                    .map_err(|e| StoreError::Corrupt(format!("history next_attempt_at `{t}`: {e}")))
            })
            .transpose()?,
        backoff_ceiling_ms: parse_opt(map, "backoff_ceiling_ms")?,
    })
}

fn tx_pk(id: TxId) -> String {
    format!("TX#{id}")
}

/// Idempotency keys are the client's own: `#` can't occur in a client id, so the key is
/// unambiguous. Records of old transactions without a client keep the unscoped form.
fn idem_pk(client: Option<&ClientId>, key: &str) -> String {
    match client {
        Some(client) => format!("IDEM#{client}#{key}"),
        None => format!("IDEM#{key}"),
    }
}

fn nonce_pk(account: Account) -> String {
    format!("NONCE#{}#{:#x}", account.chain_id, account.address)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn now_rfc3339() -> String {
    format_time(OffsetDateTime::now_utc())
}

fn format_time(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

fn put_if_absent(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

fn to_item(tx: &Transaction) -> Item {
    let mut item: Item = HashMap::from([
        ("pk".into(), s(tx_pk(tx.id))),
        ("kind".into(), s(TX_KIND)),
        ("id".into(), s(tx.id.to_string())),
        ("status".into(), s(tx.status.as_str())),
        ("message_type".into(), s(&tx.message_type)),
        ("function_signature".into(), s(&tx.function_signature)),
        ("data".into(), s(tx.data.to_string())),
        ("chain_id".into(), n(tx.chain_id)),
        ("attempts".into(), n(tx.attempts)),
        ("created_at".into(), s(format_time(tx.created_at))),
        ("updated_at".into(), s(format_time(tx.updated_at))),
    ]);
    if let Some(key) = &tx.idempotency_key {
        item.insert("idempotency_key".into(), s(key));
    }
    if let Some(client) = &tx.client {
        item.insert("client_id".into(), s(client.as_str()));
    }
    item
}

/// Maps a stored item back to a transaction; anything malformed is [`StoreError::Corrupt`].
fn from_item(item: &Item) -> Result<Transaction, StoreError> {
    let nonce: Option<u64> = parse_opt(item, "nonce")?;
    let from: Option<Address> = parse_opt(item, "signer_address")?;
    let signed = match (
        nonce,
        from,
        parse_opt::<Address>(item, "target")?,
        parse_opt::<B256>(item, "tx_hash")?,
        parse_opt::<Bytes>(item, "raw_tx")?,
    ) {
        (Some(nonce), Some(from), Some(to), Some(hash), Some(raw)) => Some(SignedTx {
            nonce,
            from,
            to,
            hash,
            raw,
            gas_limit: parse_attr(item, "gas_limit")?,
            max_fee_per_gas: parse_attr(item, "max_fee_per_gas")?,
            max_priority_fee_per_gas: parse_attr(item, "max_priority_fee_per_gas")?,
        }),
        _ => None,
    };
    let status: Status = parse_attr(item, "status")?;
    let inclusion = parse_opt::<u64>(item, "block_number")?.map(|block_number| Inclusion {
        block_number,
        succeeded: status != Status::Reverted,
    });
    Ok(Transaction {
        id: parse_attr(item, "id")?,
        status,
        message_type: parse_attr(item, "message_type")?,
        function_signature: parse_attr(item, "function_signature")?,
        data: parse_attr(item, "data")?,
        chain_id: parse_attr(item, "chain_id")?,
        client: parse_opt(item, "client_id")?,
        idempotency_key: parse_opt(item, "idempotency_key")?,
        nonce,
        from,
        signed,
        inclusion,
        attempts: parse_opt(item, "attempts")?.unwrap_or(0),
        last_error: parse_opt(item, "last_error")?,
        next_attempt_at: parse_opt::<String>(item, "next_attempt_at")?
            .map(|t| {
                OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| {
                    StoreError::Corrupt(format!("attribute `next_attempt_at` = `{t}`: {e}"))
                })
            })
            .transpose()?,
        dead_lettered: matches!(item.get("dead_lettered"), Some(AttributeValue::Bool(true))),
        generation: parse_opt(item, "generation")?.unwrap_or(0),
        history: match item.get("history") {
            None | Some(AttributeValue::Null(_)) => Vec::new(),
            Some(AttributeValue::L(entries)) => entries
                .iter()
                .map(history_from_attribute)
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(StoreError::Corrupt(format!(
                    "history is not a list: {other:?}"
                )));
            }
        },
        created_at: parse_time(item, "created_at")?,
        updated_at: parse_time(item, "updated_at")?,
    })
}

/// The item mappings, public for the benchmarks in `tools/bench` only.
#[doc(hidden)]
pub mod bench_support {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    use crate::domain::{HistoryEntry, Transaction};
    use crate::ports::StoreError;

    /// The item the API first stores for a transaction.
    pub fn to_item(tx: &Transaction) -> HashMap<String, AttributeValue> {
        super::to_item(tx)
    }

    /// A stored item back to a transaction, as every read does.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Transaction, StoreError> {
        super::from_item(item)
    }

    /// One history entry, as stored.
    pub fn history_to_attribute(entry: &HistoryEntry) -> AttributeValue {
        super::history_to_attribute(entry)
    }
}

fn attr_text<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(text)) | Some(AttributeValue::N(text)) => Ok(Some(text)),
        Some(other) => Err(StoreError::Corrupt(format!(
            "attribute `{name}` has an unexpected type: {other:?}"
        ))),
    }
}

fn parse_opt<T>(item: &Item, name: &str) -> Result<Option<T>, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    attr_text(item, name)?
        .map(|text| {
            text.parse::<T>()
                .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` = `{text}`: {e}")))
        })
        .transpose()
}

fn parse_attr<T>(item: &Item, name: &str) -> Result<T, StoreError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    parse_opt(item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{name}` is missing")))
}

fn parse_time(item: &Item, name: &str) -> Result<OffsetDateTime, StoreError> {
    let text: String = parse_attr(item, name)?;
    OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("attribute `{name}` = `{text}`: {e}")))
}

/// The smallest (or largest) UUID v7 string of the millisecond `at`; open ends are unbounded.
fn id_bound(at: Option<OffsetDateTime>, upper: bool) -> String {
    let Some(at) = at else {
        return if upper { "g".into() } else { "0".into() };
    };
    let ms = (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let tail = if upper {
        "ffff-ffff-ffffffffffff"
    } else {
        "0000-0000-000000000000"
    };
    format!(
        "{:08x}-{:04x}-{tail}",
        (ms >> 16) & 0xffff_ffff,
        ms & 0xffff
    )
}

/// The index key of an item, to continue a listing right after it.
fn cursor_key(item: &Item, index_key: &str) -> Result<Item, StoreError> {
    ["pk", "id", index_key]
        .iter()
        .map(|name| {
            item.get(*name)
                .cloned()
                .map(|value| ((*name).to_owned(), value))
                .ok_or_else(|| StoreError::Corrupt(format!("listed item has no `{name}`")))
        })
        .collect()
}

/// Cursors are the index's `LastEvaluatedKey`, opaque to clients.
fn encode_cursor(key: &Item) -> Result<String, StoreError> {
    let strings = key
        .iter()
        .map(|(k, v)| match v {
            AttributeValue::S(text) => Ok((k.clone(), text.clone())),
            other => Err(StoreError::Corrupt(format!(
                "unexpected key attribute {k}: {other:?}"
            ))),
        })
        .collect::<Result<HashMap<_, _>, _>>()?;
    let json = serde_json::to_vec(&strings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(cursor: &str, index_key: &str, index_value: &str) -> Result<Item, StoreError> {
    let invalid = |why: &str| StoreError::InvalidCursor(why.to_owned());
    let json = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not base64url"))?;
    let strings: HashMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| invalid("not a cursor issued by this API"))?;
    let mut names: Vec<&str> = strings.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = vec!["id", "pk", index_key];
    expected.sort_unstable();
    if names != expected || strings.get(index_key).map(String::as_str) != Some(index_value) {
        return Err(invalid(
            "it belongs to a different listing (status filter changed?)",
        ));
    }
    // The key must be one this table could hold: a forged one is refused here, not by DynamoDB.
    let id_ok = strings
        .get("id")
        .is_some_and(|id| id.parse::<TxId>().is_ok());
    let pk_ok = strings
        .get("pk")
        .zip(strings.get("id"))
        .is_some_and(|(pk, id)| *pk == format!("TX#{id}"));
    if !id_ok || !pk_ok {
        return Err(invalid("not a cursor issued by this API"));
    }
    Ok(strings.into_iter().map(|(k, v)| (k, s(v))).collect())
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

/// Why a nonce reservation (counter bump + assignment, one transaction) was cancelled, read from
/// its cancellation reasons: one per item, in the order they were sent.
#[derive(Debug, PartialEq)]
enum NonceRace {
    /// Not a cancelled transaction at all.
    NotCanceled,
    /// The assignment's condition failed: lease lost, nonce already set, or status moved.
    TransactionMoved,
    /// Only the counter's condition failed: another signer took the nonce. Carries the
    /// counter's current value when the reply included it.
    CounterMoved(Option<u64>),
    /// Cancelled for another reason, or without reasons.
    Unexplained,
}

impl NonceRace {
    fn of<R>(err: &SdkError<TransactWriteItemsError, R>) -> Self {
        let Some(TransactWriteItemsError::TransactionCanceledException(canceled)) =
            err.as_service_error()
        else {
            return NonceRace::NotCanceled;
        };
        Self::from_reasons(canceled.cancellation_reasons())
    }

    fn from_reasons(reasons: &[CancellationReason]) -> Self {
        let failed =
            |i: usize| reasons.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed");
        if failed(1) {
            NonceRace::TransactionMoved
        } else if failed(0) {
            let now = reasons
                .first()
                .and_then(|r| r.item())
                .and_then(|item| parse_opt::<u64>(item, "next_nonce").ok().flatten());
            NonceRace::CounterMoved(now)
        } else {
            NonceRace::Unexplained
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Idempotency;

    fn sample() -> Transaction {
        let created_at = OffsetDateTime::from_unix_timestamp(1_700_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Transaction::received(&NewTransaction {
            id: TxId::generate(),
            message_type: "add_weight(address _addr, uint256 _weight)".into(),
            function_signature: "add_weight(address,uint256)".into(),
            data: Bytes::from(vec![0x1c, 0x41, 0x74, 0x2f]),
            chain_id: 31337,
            client: "alice".parse().unwrap_or_else(|e| panic!("{e}")),
            idempotency: Some(Idempotency {
                key: "k-1".into(),
                request_fingerprint: B256::repeat_byte(1),
            }),
            created_at,
        })
    }

    #[test]
    fn a_new_item_maps_back_to_the_same_transaction() {
        let tx = sample();
        assert_eq!(from_item(&to_item(&tx)), Ok(tx));
    }

    #[test]
    fn signed_fields_map_back() {
        let tx = sample();
        let mut item = to_item(&tx);
        item.insert("status".into(), s("signed"));
        item.insert("nonce".into(), n(7));
        item.insert(
            "signer_address".into(),
            s(Address::repeat_byte(3).to_string()),
        );
        item.insert("target".into(), s(Address::repeat_byte(4).to_string()));
        item.insert("tx_hash".into(), s(B256::repeat_byte(5).to_string()));
        item.insert("raw_tx".into(), s("0x02f8"));
        item.insert("gas_limit".into(), n(21_000));
        item.insert("max_fee_per_gas".into(), n(2_000_000_000u128));
        item.insert("max_priority_fee_per_gas".into(), n(1u128));
        let mapped = from_item(&item).unwrap_or_else(|e| panic!("{e}"));
        let signed = mapped
            .signed
            .unwrap_or_else(|| panic!("signed fields lost"));
        assert_eq!(signed.nonce, 7);
        assert_eq!(signed.to, Address::repeat_byte(4));
        assert_eq!(signed.raw.as_ref(), &[0x02, 0xf8]);
        assert_eq!(mapped.status, Status::Signed);
    }

    #[test]
    fn malformed_items_are_corrupt_not_panics() {
        let mut item = to_item(&sample());
        item.insert("status".into(), s("exploded"));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
        let mut item = to_item(&sample());
        item.remove("id");
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
        let mut item = to_item(&sample());
        item.insert("nonce".into(), AttributeValue::Bool(true));
        assert!(matches!(from_item(&item), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        let id = TxId::generate().to_string();
        let key = |pk: &str, id: &str, kind: &str| -> Item {
            HashMap::from([
                ("pk".into(), s(pk)),
                ("id".into(), s(id)),
                ("kind".into(), s(kind)),
            ])
        };
        let good = key(&format!("TX#{id}"), &id, "tx");
        let cursor = encode_cursor(&good).unwrap_or_default();
        assert_eq!(decode_cursor(&cursor, "kind", "tx"), Ok(good));
        let invalid = |cursor: &str, index_key: &str, index_value: &str| {
            matches!(
                decode_cursor(cursor, index_key, index_value),
                Err(StoreError::InvalidCursor(_))
            )
        };
        // Another listing's cursor, garbage, and forged keys.
        assert!(invalid(&cursor, "status", "confirmed"));
        assert!(invalid(&cursor, "kind", "other"));
        assert!(invalid("!!!", "kind", "tx"));
        assert!(invalid("e30", "kind", "tx"));
        for forged in [
            key("IDEM#alice#k", &id, "tx"),
            key(&format!("TX#{id}"), "x", "tx"),
            key("NONCE#1#0x00", "NONCE#1#0x00", "tx"),
        ] {
            let cursor = encode_cursor(&forged).unwrap_or_default();
            assert!(invalid(&cursor, "kind", "tx"), "{forged:?}");
        }
    }
}

#[cfg(test)]
mod id_bound_tests {
    use super::*;

    #[test]
    fn time_bounds_bracket_the_ids_of_that_time() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            1_800_000_000,
            0,
        ))
        .to_string();
        assert!(
            id_bound(Some(at), false) <= id,
            "{} <= {id}",
            id_bound(Some(at), false)
        );
        assert!(id <= id_bound(Some(at), true));
        let later = at + time::Duration::milliseconds(1);
        assert!(id < id_bound(Some(later), false));
        assert!(id_bound(None, false) < id && id < id_bound(None, true));
    }
}

#[cfg(test)]
mod nonce_race_tests {
    use super::*;

    /// Never reaches a server: the test ends before any request would be sent.
    fn offline_store() -> DynamoStore {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build();
        DynamoStore::new(Client::from_conf(config), "transactions")
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_the_turn_counts_against_the_budget() {
        let store = offline_store();
        // Another record of this process holds the turn and does not let go.
        let held = store.nonce_turn.clone().lock_owned().await;
        let account = Account {
            chain_id: 1,
            address: Address::ZERO,
        };
        let started = tokio::time::Instant::now();
        let token = LeaseToken("ours".into());
        let reserving = store.reserve_nonce(TxId::generate(), &token, account);
        let Ok(result) = tokio::time::timeout(NONCE_CONTENTION_BUDGET * 2, reserving).await else {
            panic!("still waiting for the turn after twice the budget");
        };
        assert!(
            matches!(&result, Err(StoreError::Unavailable(why)) if why.contains("turn")),
            "{result:?}"
        );
        assert_eq!(started.elapsed(), NONCE_CONTENTION_BUDGET);
        drop(held);
    }

    fn reason(code: &str, item: Option<Item>) -> CancellationReason {
        CancellationReason::builder()
            .code(code)
            .set_item(item)
            .build()
    }

    fn counter(next: u64) -> Item {
        HashMap::from([("next_nonce".to_owned(), n(next))])
    }

    #[test]
    fn a_moved_counter_tells_its_value() {
        let reasons = [
            reason("ConditionalCheckFailed", Some(counter(42))),
            reason("None", None),
        ];
        assert_eq!(
            NonceRace::from_reasons(&reasons),
            NonceRace::CounterMoved(Some(42))
        );
    }

    #[test]
    fn a_moved_counter_without_its_item_is_read_again() {
        let reasons = [reason("ConditionalCheckFailed", None), reason("None", None)];
        assert_eq!(
            NonceRace::from_reasons(&reasons),
            NonceRace::CounterMoved(None)
        );
    }

    #[test]
    fn a_failed_assignment_means_the_transaction_is_not_ours_whatever_the_counter_did() {
        for counter_code in ["None", "ConditionalCheckFailed"] {
            let reasons = [
                reason(counter_code, Some(counter(7))),
                reason("ConditionalCheckFailed", None),
            ];
            assert_eq!(
                NonceRace::from_reasons(&reasons),
                NonceRace::TransactionMoved,
                "{counter_code}"
            );
        }
    }

    #[test]
    fn conflicts_and_missing_reasons_are_unexplained() {
        let conflict = [reason("TransactionConflict", None), reason("None", None)];
        assert_eq!(NonceRace::from_reasons(&conflict), NonceRace::Unexplained);
        assert_eq!(NonceRace::from_reasons(&[]), NonceRace::Unexplained);
    }
}
