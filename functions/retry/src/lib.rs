//! Admin retry: re-drives a failed transaction to the front of the line.
//!
//! Allowed from `needs_review`, `reverted` and `retrying` (which skips the wait). It decides
//! what the transaction needs, from the record alone (no node call: a slow node can't make an
//! operator's retry time out, nor a lagging one make it decide wrongly):
//! - a signed transaction under review: its signed bytes go to the broadcaster, which decides
//!   on chain, as it does for every send. Their nonce still open: sent. Used by one of their
//!   hashes: confirmed. Taken by another sender (deep enough to be sure): signed again at a
//!   fresh nonce (`nonce_lost`);
//! - a fresh signature with a fresh nonce, if it reverted (its nonce is used) or was never
//!   signed;
//! - nothing, with 409 and the reason, if it is `confirmed` or in flight.
//!
//! The decision is written with a conditional update guarded by the status it was made on, so
//! two retries racing each other yield one re-drive; every consumer step is idempotent besides.
//! The message goes to a priority queue that the consumers read beside their main queue, so a
//! retried transaction never waits behind the backlog. Every retry lands in the history with the
//! operator who asked.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tx_shared::adapters::{dynamo::DynamoStore, sqs::SqsQueue};
use tx_shared::auth::operator_name;
use tx_shared::aws::AwsClients;
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{Status, Transaction, TxId, TxMessage};
use tx_shared::ports::{AdminRetry, BroadcastQueue, Reading, StoreError, Transitions};
use tx_shared::view::ErrorBody;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub sign_priority_queue_url: String,
    pub broadcast_priority_queue_url: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            sign_priority_queue_url: env.required("SIGN_PRIORITY_QUEUE_URL")?,
            broadcast_priority_queue_url: env.required("BROADCAST_PRIORITY_QUEUE_URL")?,
        })
    }
}

pub struct Retrier<S, Q> {
    pub store: S,
    pub to_signer: Q,
    pub to_broadcaster: Q,
}

pub type AwsRetrier = Retrier<DynamoStore, SqsQueue>;

impl AwsRetrier {
    pub fn from_aws(config: &Config, clients: &AwsClients) -> Self {
        let sqs = clients.sqs.clone();
        Retrier {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
            to_signer: SqsQueue::new(sqs.clone(), &config.sign_priority_queue_url),
            to_broadcaster: SqsQueue::new(sqs, &config.broadcast_priority_queue_url),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError {
    #[error("transaction {0} does not exist")]
    NotFound(TxId),
    /// The transaction does not need a retry, or another retry just moved it.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Unavailable(String),
}

/// What a retry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retried {
    pub id: TxId,
    pub action: AdminRetry,
}

impl<S, Q> Retrier<S, Q>
where
    S: Reading + Transitions,
    Q: BroadcastQueue,
{
    /// Retries one transaction on behalf of `principal`.
    pub async fn retry(&self, id: TxId, principal: &str) -> Result<Retried, RetryError> {
        let unavailable = |e: &dyn std::fmt::Display| RetryError::Unavailable(e.to_string());
        let tx = self
            .store
            .get(id)
            .await
            .map_err(|e| unavailable(&e))?
            .ok_or(RetryError::NotFound(id))?;
        let action = decide(&tx)?;
        match self
            .store
            .record_admin_retry(id, tx.status, action, principal)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(RetryError::Refused(format!(
                    "transaction {id} changed while the retry was being decided (another retry?); look again"
                )));
            }
            Err(e) => return Err(unavailable(&e)),
        }
        // The retry starts the next generation of messages.
        let message = TxMessage {
            generation: tx.generation + 1,
            ..TxMessage::new(id)
        };
        let queue = match action {
            AdminRetry::ResignFresh => &self.to_signer,
            AdminRetry::ResendSigned => &self.to_broadcaster,
            AdminRetry::SkipWait if tx.signed.is_some() => &self.to_broadcaster,
            AdminRetry::SkipWait => &self.to_signer,
        };
        // Recorded but not queued: the sweeper re-drives it once it is overdue.
        queue
            .enqueue(&message, Duration::ZERO)
            .await
            .map_err(|e| unavailable(&e))?;
        tracing::warn!(%principal, action = action.as_str(), transaction_id = %id, "operator retry");
        Ok(Retried { id, action })
    }
}

/// What a transaction needs, from its record.
fn decide(tx: &Transaction) -> Result<AdminRetry, RetryError> {
    match tx.status {
        Status::Confirmed => Err(RetryError::Refused(format!(
            "transaction {} is already confirmed; there is nothing to retry",
            tx.id
        ))),
        Status::Received | Status::Signed | Status::Broadcast => Err(RetryError::Refused(format!(
            "transaction {} is in flight ({}); retrying now could only race the pipeline",
            tx.id, tx.status
        ))),
        Status::Retrying => Ok(AdminRetry::SkipWait),
        // A reverted call used its nonce: retrying it means a new transaction.
        Status::Reverted => Ok(AdminRetry::ResignFresh),
        // Its bytes go to the broadcaster, which decides on chain what became of their nonce.
        Status::NeedsReview if tx.signed.is_some() => Ok(AdminRetry::ResendSigned),
        Status::NeedsReview => Ok(AdminRetry::ResignFresh),
    }
}

/// Who may call the admin routes.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// Locally: `Authorization: Bearer <ADMIN_TOKEN>`.
    BearerToken(String),
    /// On AWS: API Gateway already checked IAM (SigV4) or a JWT; the principal comes from the
    /// request context it passes on.
    Gateway,
}

struct AdminState<S, Q> {
    retrier: Arc<Retrier<S, Q>>,
    auth: AdminAuth,
}

/// `POST /admin/transactions/{id}/retry`.
pub fn admin_router<S, Q>(retrier: Arc<Retrier<S, Q>>, auth: AdminAuth) -> Router
where
    S: Reading + Transitions + 'static,
    Q: BroadcastQueue + 'static,
{
    Router::new()
        .route("/admin/transactions/{id}/retry", post(retry_route::<S, Q>))
        .with_state(Arc::new(AdminState { retrier, auth }))
}

/// What a retry answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RetryAnswer {
    #[schema(format = "uuid")]
    transaction_id: String,
    action: AdminRetry,
    /// Always `retrying`: the re-drive is queued.
    status: Status,
}

impl RetryAnswer {
    fn of(retried: Retried) -> Self {
        RetryAnswer {
            transaction_id: retried.id.to_string(),
            action: retried.action,
            status: Status::Retrying,
        }
    }
}

#[utoipa::path(
    post,
    path = "/admin/transactions/{id}/retry",
    operation_id = "retry_transaction",
    tag = "operators",
    security(("operator" = [])),
    params(("id" = String, Path, format = "uuid", max_length = 64, description = "The transaction to retry.")),
    responses((status = 200, description = "The retry is recorded (with who asked) and its re-drive queued on a priority queue.", body = RetryAnswer)),
)]
async fn retry_route<S, Q>(
    State(state): State<Arc<AdminState<S, Q>>>,
    headers: HeaderMap,
    request_principal: Option<axum::Extension<GatewayPrincipal>>,
    // Read after the caller is known: an unauthenticated caller learns nothing of the path.
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response
where
    S: Reading + Transitions,
    Q: BroadcastQueue,
{
    let principal = match authenticate(&state.auth, &headers, request_principal.map(|e| e.0)) {
        Ok(principal) => principal,
        Err(denied) => return error(denied.status, denied.code, denied.message),
    };
    let Some(id) = id.ok().and_then(|Path(id)| id.parse::<TxId>().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_transaction_id",
            "the path's id is not a transaction id (a UUID)",
        );
    };
    match state.retrier.retry(id, &principal).await {
        Ok(retried) => (StatusCode::OK, Json(RetryAnswer::of(retried))).into_response(),
        Err(RetryError::NotFound(id)) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("transaction {id} does not exist"),
        ),
        Err(RetryError::Refused(why)) => error(StatusCode::CONFLICT, "retry_refused", &why),
        Err(RetryError::Unavailable(why)) => {
            tracing::error!(error = %why, "retry failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the retry could not be recorded; try again",
            )
        }
    }
}

/// The caller as API Gateway identified it (set by the Lambda entry point).
#[derive(Debug, Clone)]
pub struct GatewayPrincipal(pub String);

/// Why a caller may not use the admin routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Denied {
    status: StatusCode,
    code: &'static str,
    message: &'static str,
}

fn authenticate(
    auth: &AdminAuth,
    headers: &HeaderMap,
    gateway: Option<GatewayPrincipal>,
) -> Result<String, Denied> {
    let forbidden = |message| Denied {
        status: StatusCode::FORBIDDEN,
        code: "forbidden",
        message,
    };
    match auth {
        AdminAuth::Gateway => gateway
            .map(|p| p.0)
            .ok_or_else(|| forbidden("the request carries no authenticated principal")),
        AdminAuth::BearerToken(expected) => {
            match tx_shared::auth::check_bearer(headers, expected) {
                Ok(()) => Ok("admin (bearer token)".to_owned()),
                Err(tx_shared::auth::AuthError::Missing) => Err(Denied {
                    status: StatusCode::UNAUTHORIZED,
                    code: "unauthorized",
                    message: "admin routes need `Authorization: Bearer <token>`",
                }),
                Err(tx_shared::auth::AuthError::Invalid) => {
                    Err(forbidden("the admin token is not valid"))
                }
            }
        }
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

/// A direct invocation: `{"transaction_id": "..."}`, by an operator with the admin role.
#[derive(Debug, serde::Deserialize)]
pub struct DirectRetry {
    pub transaction_id: String,
}

impl<S, Q> Retrier<S, Q>
where
    S: Reading + Transitions,
    Q: BroadcastQueue,
{
    /// The answer to a direct invocation by `invoker` (the function's ARN: IAM let it in).
    pub async fn retry_direct(&self, request: DirectRetry, invoker: &str) -> Value {
        let principal = format!("direct invocation ({})", operator_name(invoker));
        let refused = |code: &str, message: &str| ErrorBody::new(code, message).to_value();
        let id: TxId = match request.transaction_id.parse() {
            Ok(id) => id,
            Err(e) => {
                let e: tx_shared::domain::InvalidTxId = e;
                return refused("invalid_transaction_id", &e.to_string());
            }
        };
        match self.retry(id, &principal).await {
            Ok(done) => json!(RetryAnswer::of(done)),
            Err(e @ RetryError::Unavailable(_)) => {
                tracing::error!(error = %e, "retry failed");
                refused(
                    "service_unavailable",
                    "the retry could not be recorded; try again",
                )
            }
            Err(e) => refused("retry_refused", &tx_shared::redact::scrub(&e.to_string())),
        }
    }
}

/// Who API Gateway says is calling the admin route: an IAM principal or a JWT's user, by a
/// readable name (never an account id).
pub fn gateway_principal(context: &lambda_http::request::RequestContext) -> Option<String> {
    let lambda_http::request::RequestContext::ApiGatewayV2(context) = context else {
        return None;
    };
    let authorizer = context.authorizer.as_ref()?;
    match authorizer
        .iam
        .as_ref()
        .and_then(|iam| iam.user_arn.as_deref())
    {
        Some(arn) => Some(operator_name(arn)),
        None => tx_shared::auth::operator_of_claims(&authorizer.jwt.as_ref()?.claims),
    }
}

#[cfg(test)]
mod tests;

/// The admin route's part of the API's OpenAPI document (`api::openapi` assembles it).
#[derive(utoipa::OpenApi)]
#[openapi(paths(retry_route), components(schemas(RetryAnswer, AdminRetry)))]
pub struct AdminApi;
