//! The client API: one axum `Router`, served by `lambda_http` on AWS and by a plain TCP
//! listener locally.
//!
//! `POST /transaction/broadcast` answers 200 only once the request is stored in DynamoDB *and*
//! published to SNS; from then on the pipeline owns it.

mod error;
mod status_page;

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{Address, keccak256};
use aws_config::SdkConfig;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tracing::Instrument;
use tx_shared::adapters::{dynamo::DynamoStore, kms::KmsSigner, sns::SnsPublisher};
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{Idempotency, NewTransaction, Status, TxId, TxMessage};
use tx_shared::ports::{
    Inserted, ListQuery, RequestPublisher, StoreError, TransactionSigner, TransactionStore,
};
use tx_shared::validation::{self, MAX_BODY_BYTES, MessageTypePolicy, RequestError};

pub use error::ApiError;
use tx_shared::view::TransactionView;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
const DEFAULT_PAGE_SIZE: u32 = 25;
const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    pub kms_key_id: String,
    pub chain_id: u64,
    pub policy: MessageTypePolicy,
    /// If set, `/health` reports it without asking KMS.
    pub signer_address: Option<Address>,
    /// Where the status page's browser connects for live updates (the WebSocket API's URL on
    /// AWS). Unset: the page connects to `/ws` on the same host (the local runner serves it).
    pub websocket_url: Option<String>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            topic_arn: env.required("TOPIC_ARN")?,
            kms_key_id: env.required("KMS_KEY_ID")?,
            chain_id: env.required("CHAIN_ID")?,
            policy: env.message_type_policy("ALLOWED_MESSAGE_TYPES")?,
            signer_address: env.optional("SIGNER_ADDRESS")?,
            websocket_url: env.optional("WEBSOCKET_URL")?,
        })
    }
}

/// What the handlers need.
pub struct App<S, P, K> {
    pub store: S,
    pub publisher: P,
    pub key: K,
    pub chain_id: u64,
    pub policy: MessageTypePolicy,
    pub websocket_url: Option<String>,
    signer_address: OnceCell<Address>,
}

pub type AwsApp = App<DynamoStore, SnsPublisher, KmsSigner>;

impl<S, P, K> App<S, P, K> {
    pub fn new(
        store: S,
        publisher: P,
        key: K,
        chain_id: u64,
        policy: MessageTypePolicy,
        signer_address: Option<Address>,
    ) -> Self {
        App {
            store,
            publisher,
            key,
            chain_id,
            policy,
            websocket_url: None,
            signer_address: OnceCell::new_with(signer_address),
        }
    }
}

impl AwsApp {
    pub fn from_aws(config: &Config, sdk: &SdkConfig) -> Self {
        let app = App::new(
            DynamoStore::new(tx_shared::aws::dynamodb(sdk), &config.table_name),
            SnsPublisher::new(tx_shared::aws::sns(sdk), &config.topic_arn),
            KmsSigner::new(tx_shared::aws::kms(sdk), &config.kms_key_id),
            config.chain_id,
            config.policy.clone(),
            config.signer_address,
        );
        App {
            websocket_url: config.websocket_url.clone(),
            ..app
        }
    }
}

/// The whole HTTP API.
pub fn router<S, P, K>(app: Arc<App<S, P, K>>) -> Router
where
    S: TransactionStore + 'static,
    P: RequestPublisher + 'static,
    K: TransactionSigner + 'static,
{
    Router::new()
        .route("/transaction/broadcast", post(broadcast::<S, P, K>))
        .route("/transactions", get(list::<S, P, K>))
        .route("/transactions/{id}", get(show::<S, P, K>))
        .route("/transactions/stats", get(stats::<S, P, K>))
        .route("/health", get(health::<S, P, K>))
        .merge(status_page::routes(app.websocket_url.clone()))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
}

async fn broadcast<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    S: TransactionStore,
    P: RequestPublisher,
{
    let idempotency_key = idempotency_key(&headers)?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::BadRequest(RequestError::TooLarge {
                limit: MAX_BODY_BYTES,
            })
        })?;
    let request = validation::parse_request(&bytes).map_err(ApiError::BadRequest)?;
    let call = validation::validate_call(&request, &app.policy).map_err(ApiError::Unprocessable)?;

    let new = NewTransaction {
        id: TxId::generate(),
        idempotency: idempotency_key.map(|key| Idempotency {
            request_fingerprint: fingerprint(&call.message_type, &call.data),
            key,
        }),
        message_type: call.message_type,
        function_signature: call.function_signature,
        data: call.data,
        chain_id: app.chain_id,
        created_at: OffsetDateTime::now_utc(),
    };
    let span = tracing::info_span!("broadcast", transaction_id = %new.id);
    async move {
        match app.store.insert_new(&new).await {
            Ok(Inserted::Created(tx)) => {
                if let Err(e) = app.publisher.publish(&TxMessage::new(tx.id)).await {
                    tracing::error!(error = %e, "publish failed; withdrawing the request");
                    let withdrawn = app.store.discard_unpublished(&tx).await.unwrap_or_else(|e| {
                        tracing::error!(error = %e, "could not withdraw the unpublished request");
                        false
                    });
                    return Err(ApiError::NotQueued { withdrawn });
                }
                tracing::info!(function = %tx.function_signature, "accepted");
                Ok(accepted(tx.id, tx.status))
            }
            Ok(Inserted::Duplicate(tx)) => {
                tracing::info!(transaction_id = %tx.id, "idempotent repeat");
                // The first attempt may have stored it but failed to publish: publishing again
                // is harmless (the signer claims each transaction once) and keeps the promise.
                if tx.status == Status::Received {
                    app.publisher
                        .publish(&TxMessage::new(tx.id))
                        .await
                        .map_err(|_| ApiError::NotQueued { withdrawn: false })?;
                }
                Ok(accepted(tx.id, tx.status))
            }
            Err(StoreError::IdempotencyConflict { existing }) => {
                Err(ApiError::IdempotencyKeyReused(existing))
            }
            Err(e) => Err(ApiError::store(e)),
        }
    }
    .instrument(span)
    .await
}

fn accepted(id: TxId, status: Status) -> Response {
    (
        StatusCode::OK,
        Json(json!({ "transaction_id": id, "status": status })),
    )
        .into_response()
}

/// The fingerprint binds an idempotency key to the request it was first used with.
fn fingerprint(message_type: &str, data: &[u8]) -> alloy::primitives::B256 {
    let mut preimage = Vec::with_capacity(message_type.len() + 1 + data.len());
    preimage.extend_from_slice(message_type.as_bytes());
    preimage.push(0);
    preimage.extend_from_slice(data);
    keccak256(preimage)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::InvalidHeader(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| invalid())?.trim();
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

async fn show<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Path(id): Path<String>,
) -> Result<Json<TransactionView>, ApiError>
where
    S: TransactionStore,
{
    let id: TxId = id
        .parse()
        .map_err(|e: tx_shared::domain::InvalidTxId| ApiError::InvalidPath(e.to_string()))?;
    match app.store.get(id).await {
        Ok(Some(tx)) => Ok(Json(TransactionView::from(&tx))),
        Ok(None) => Err(ApiError::NotFound(format!(
            "transaction {id} does not exist"
        ))),
        Err(e) => Err(ApiError::store(e)),
    }
}

async fn list<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError>
where
    S: TransactionStore,
{
    // Searching for a transaction id is a lookup, not a listing.
    if let Some(id) = params.get("q").and_then(|q| q.trim().parse::<TxId>().ok()) {
        let found = app.store.get(id).await.map_err(ApiError::store)?;
        let items: Vec<TransactionView> = found.iter().map(TransactionView::from).collect();
        return Ok(Json(json!({ "transactions": items, "next_cursor": null })));
    }
    let query = list_query(&params)?;
    let page = app.store.list(&query).await.map_err(ApiError::store)?;
    let items: Vec<TransactionView> = page.items.iter().map(TransactionView::from).collect();
    Ok(Json(
        json!({ "transactions": items, "next_cursor": page.next_cursor }),
    ))
}

const LIST_PARAMETERS: [&str; 7] = [
    "status",
    "limit",
    "cursor",
    "message_type",
    "from",
    "to",
    "q",
];

fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let invalid = |message: String| ApiError::InvalidQuery(message);
    if let Some(unknown) = params
        .keys()
        .find(|k| !LIST_PARAMETERS.contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "unknown query parameter `{unknown}`; use {}",
            LIST_PARAMETERS.join(", ")
        )));
    }
    let given = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let status = given("status")
        .map(|s| s.parse::<Status>())
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    let limit = match given("limit") {
        None => DEFAULT_PAGE_SIZE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got `{raw}`"
                ))
            })?,
    };
    // Any spelling of a signature filters by its canonical form.
    let function_signature = given("message_type")
        .map(|raw| {
            alloy::json_abi::Function::parse(raw)
                .map(|f| f.signature())
                .map_err(|e| {
                    invalid(format!(
                        "message_type `{raw}` is not a function signature: {e}"
                    ))
                })
        })
        .transpose()?;
    let from = given("from")
        .map(|raw| parse_time(raw, false))
        .transpose()?;
    let to = given("to").map(|raw| parse_time(raw, true)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(invalid("`from` is after `to`".into()));
    }
    let tx_hash = given("q")
        .map(|raw| {
            raw.parse::<alloy::primitives::B256>().map_err(|_| {
                invalid(format!(
                    "q must be a transaction id or a 0x-prefixed 32-byte hash, got `{raw}`"
                ))
            })
        })
        .transpose()?;
    Ok(ListQuery {
        status,
        limit,
        cursor: given("cursor").map(str::to_owned),
        function_signature,
        from,
        to,
        tx_hash,
    })
}

/// RFC 3339, or a bare `YYYY-MM-DD` (the whole day: its start for `from`, its end for `to`).
fn parse_time(raw: &str, end_of_day: bool) -> Result<OffsetDateTime, ApiError> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(at) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Ok(at);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format)
        .map(|day| {
            let start = day.midnight().assume_utc();
            if end_of_day {
                start + time::Duration::days(1) - time::Duration::nanoseconds(1)
            } else {
                start
            }
        })
        .map_err(|_| {
            ApiError::InvalidQuery(format!(
                "`{raw}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
}

/// Counts for the status page: passed (confirmed), failed (reverted, needs review), pending.
async fn stats<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
) -> Result<Json<serde_json::Value>, ApiError>
where
    S: TransactionStore,
{
    const CAP: u64 = 100_000;
    let counts = app
        .store
        .count_by_status(CAP)
        .await
        .map_err(ApiError::store)?;
    let by_status: serde_json::Map<String, serde_json::Value> = counts
        .counts
        .iter()
        .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
        .collect();
    let sum = |pick: &dyn Fn(Status) -> bool| -> u64 {
        counts
            .counts
            .iter()
            .filter(|(s, _)| pick(*s))
            .map(|(_, n)| n)
            .sum()
    };
    Ok(Json(json!({
        "passed": sum(&|s| s == Status::Confirmed),
        "failed": sum(&|s| matches!(s, Status::Reverted | Status::NeedsReview)),
        "pending": sum(&|s| !matches!(s, Status::Confirmed | Status::Reverted | Status::NeedsReview)),
        "by_status": by_status,
        "capped": counts.capped,
    })))
}

async fn health<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
) -> Result<Json<serde_json::Value>, ApiError>
where
    K: TransactionSigner,
{
    let address = app
        .signer_address
        .get_or_try_init(|| app.key.address())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "signer key unavailable");
            ApiError::Unavailable
        })?;
    Ok(Json(
        json!({ "status": "ok", "signer_address": address.to_string(), "chain_id": app.chain_id }),
    ))
}

#[cfg(test)]
mod tests;
