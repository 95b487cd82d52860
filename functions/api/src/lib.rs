//! The client API: one axum `Router`, served by `lambda_http` on AWS and by a plain TCP
//! listener locally.
//!
//! `POST /transaction/broadcast` answers 200 only once the request is stored in DynamoDB *and*
//! published to SNS; from then on the pipeline owns it.

mod error;
mod health;
pub mod openapi;
mod reads;
pub mod status_page;
mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use alloy::primitives::{Address, keccak256};
use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use time::OffsetDateTime;
use tokio::sync::OnceCell;
use tracing::Instrument;
use tx_shared::adapters::{dynamo::DynamoStore, kms::KmsSigner, sns::SnsPublisher};
use tx_shared::auth::{AuthError, Caller, LocalAuth};
use tx_shared::aws::AwsClients;
use tx_shared::by_chain::ByChain;
use tx_shared::config::{Chains, ConfigError, Env};
use tx_shared::domain::{Idempotency, NewTransaction, Status, TxId, TxMessage};
use tx_shared::lanes::KeyPool;
use tx_shared::ports::{
    CountScope, Inserted, Intake, ListQuery, NodesHealth, NonceCounter, ProgressLog, Reading,
    RequestPublisher, StoreError, TransactionSigner, WebhookStore,
};
use tx_shared::validation::{
    self, CallError, ChainRef, MAX_BODY_BYTES, MessageTypePolicy, RequestError,
};

pub use error::{ApiError, Withdrawal};
use tx_shared::view::TransactionView;

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
const DEFAULT_PAGE_SIZE: u32 = 25;
const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// The chains served: each one's name, allowlist and keys (`/health` reports each lane).
    pub chains: Chains,
    /// If set, `/health` reports it without asking KMS.
    pub signer_address: Option<Address>,
    /// Where the status page's browser connects for live updates (the WebSocket API's URL on
    /// AWS). Unset: the page connects to `/ws` on the same host (the local runner serves it).
    pub websocket_url: Option<String>,
    /// Where operators sign in to the status page (Cognito's hosted UI), if anywhere.
    pub sign_in: Option<status_page::SignIn>,
    /// The webhook queue, for an operator's re-delivery (`WEBHOOK_QUEUE_URL`).
    pub webhook_queue_url: Option<String>,
    /// Where webhook endpoints and delivery logs are kept (`WEBHOOK_TABLE_NAME`): never the
    /// main table, whose other readers must not see a secret.
    pub webhook_table_name: String,
    /// Where endpoints may be registered (`WEBHOOK_ALLOW_LOOPBACK`: `make dev` and the tests).
    pub webhook_policy: tx_shared::webhooks::AddressPolicy,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let chains = env.chains()?;
        for chain in chains.iter() {
            // Every chain accepts calls: each needs its allowlist.
            chain.policy()?;
        }
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            topic_arn: env.required("TOPIC_ARN")?,
            chains,
            signer_address: env.optional("SIGNER_ADDRESS")?,
            websocket_url: env.optional("WEBSOCKET_URL")?,
            webhook_queue_url: env.optional("WEBHOOK_QUEUE_URL")?,
            webhook_table_name: env.required("WEBHOOK_TABLE_NAME")?,
            webhook_policy: tx_shared::webhooks::AddressPolicy {
                allow_loopback: env.or_default("WEBHOOK_ALLOW_LOOPBACK", false)?,
                allow_public: true,
            },
            sign_in: match (
                env.optional::<String>("OPERATOR_SIGN_IN_URL")?,
                env.optional::<String>("OPERATOR_CLIENT_ID")?,
            ) {
                (Some(url), Some(client_id)) => Some(status_page::SignIn::new(&url, client_id)?),
                (None, None) => None,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "OPERATOR_SIGN_IN_URL/OPERATOR_CLIENT_ID",
                        reason: "set both or neither".into(),
                    });
                }
            },
        })
    }
}

/// Who authenticates callers.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// On AWS: API Gateway did (API key or JWT), and the Lambda entry point put the [`Caller`]
    /// it found in the request's extensions. A request without one is refused.
    Gateway,
    /// Locally: `x-api-key` for clients, `Authorization: Bearer` for operators.
    Local(LocalAuth),
}

/// The caller API Gateway authenticated: a client by its API key's id (the REST API), or an
/// operator by the claims of the JWT its authorizer checked (the operators' HTTP API).
pub fn gateway_caller(context: &lambda_http::request::RequestContext) -> Option<Caller> {
    use lambda_http::request::RequestContext;
    match context {
        RequestContext::ApiGatewayV1(rest) => rest
            .identity
            .api_key_id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .map(Caller::Client),
        RequestContext::ApiGatewayV2(http) => {
            let claims = &http.authorizer.as_ref()?.jwt.as_ref()?.claims;
            tx_shared::auth::operator_of_claims(claims).map(|who| Caller::Operator { who })
        }
        _ => None,
    }
}

/// One chain as the API serves it.
pub struct ServedChain<K> {
    /// Lowercase; a request may name the chain by it.
    pub name: String,
    /// What may be sent on this chain.
    pub policy: MessageTypePolicy,
    /// The chain's lanes (the default chain's first one's address is `/health`'s top-level
    /// `signer_address`).
    pub keys: KeyPool<K>,
}

impl<K> ServedChain<K> {
    /// The chain `id`, by its usual name.
    pub fn new(id: u64, policy: MessageTypePolicy, keys: KeyPool<K>) -> Self {
        ServedChain {
            name: tx_shared::domain::chains::name(id),
            policy,
            keys,
        }
    }
}

/// What the handlers need.
pub struct App<S, P, K> {
    pub store: S,
    pub publisher: P,
    /// The chains served, the default one first.
    pub chains: ByChain<ServedChain<K>>,
    pub websocket_url: Option<String>,
    pub sign_in: Option<status_page::SignIn>,
    pub auth: Authenticator,
    /// Where a client's endpoints may point.
    pub webhook_policy: tx_shared::webhooks::AddressPolicy,
    /// Where an operator's re-delivery is queued; none: re-delivery answers 503.
    pub webhook_queue: Option<tx_shared::adapters::sqs::SqsQueue>,
    signer_address: OnceCell<Address>,
    /// `/health` as last answered, and when: it is read from the table at most every
    /// [`health::FRESH_FOR`].
    health: health::Cache,
}

pub type AwsApp = App<DynamoStore, SnsPublisher, KmsSigner>;

impl<S, P, K> App<S, P, K> {
    pub fn new(
        store: S,
        publisher: P,
        chains: ByChain<ServedChain<K>>,
        signer_address: Option<Address>,
    ) -> Self {
        App {
            store,
            publisher,
            chains,
            websocket_url: None,
            sign_in: None,
            auth: Authenticator::Gateway,
            webhook_policy: tx_shared::webhooks::AddressPolicy::PUBLIC_ONLY,
            webhook_queue: None,
            signer_address: OnceCell::new_with(signer_address),
            health: health::Cache::default(),
        }
    }

    /// The same app, authenticating callers with `auth`.
    pub fn with_auth(self, auth: Authenticator) -> Self {
        App { auth, ..self }
    }

    /// The chain a request asks for (the default one if it names none), or 422
    /// `unknown_chain`, listing those served.
    fn chain(&self, asked: Option<&ChainRef>) -> Result<(u64, &ServedChain<K>), CallError> {
        let Some(asked) = asked else {
            return Ok((self.chains.first_id(), self.chains.first()));
        };
        self.chains
            .iter()
            .find(|(id, chain)| asked.names(*id, &chain.name))
            .ok_or_else(|| CallError::UnknownChain {
                asked: asked.to_string(),
                served: self
                    .chains
                    .iter()
                    .map(|(id, chain)| format!("{id} ({})", chain.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl AwsApp {
    pub fn from_aws(config: &Config, clients: &AwsClients) -> Result<Self, ConfigError> {
        let chains = ByChain::of_chains(&config.chains, |chain| {
            Ok(ServedChain {
                name: chain.name.clone(),
                policy: chain.policy()?,
                keys: KmsSigner::lanes_of(&clients.kms, chain),
            })
        })?;
        let store = DynamoStore::new(clients.dynamodb.clone(), &config.table_name)
            .with_webhook_table(&config.webhook_table_name);
        let app = App::new(
            store,
            SnsPublisher::new(clients.sns.clone(), &config.topic_arn),
            chains,
            config.signer_address,
        );
        Ok(App {
            websocket_url: config.websocket_url.clone(),
            sign_in: config.sign_in.clone(),
            webhook_policy: config.webhook_policy,
            webhook_queue: config
                .webhook_queue_url
                .as_ref()
                .map(|url| tx_shared::adapters::sqs::SqsQueue::new(clients.sqs.clone(), url)),
            ..app
        })
    }
}

/// The whole HTTP API.
pub fn router<S, P, K>(app: Arc<App<S, P, K>>) -> Router
where
    S: Intake + Reading + NonceCounter + NodesHealth + ProgressLog + WebhookStore + 'static,
    P: RequestPublisher + 'static,
    K: TransactionSigner + 'static,
{
    // Everything about transactions needs credentials; the page's static files and the health
    // check do not.
    let authenticated = Router::new()
        .route("/transaction/broadcast", post(broadcast::<S, P, K>))
        .route("/transactions", get(reads::list::<S, P, K>))
        .route("/transactions/{id}", get(reads::show::<S, P, K>))
        .route("/transactions/stats", get(reads::stats::<S, P, K>))
        .route("/transactions/timeline", get(reads::timeline::<S, P, K>))
        .route(
            "/transactions/{id}/deliveries",
            get(webhooks::deliveries::<S, P, K>),
        )
        .route(
            "/webhooks",
            post(webhooks::create::<S, P, K>).get(webhooks::list::<S, P, K>),
        )
        .route("/webhooks/{id}", delete(webhooks::delete::<S, P, K>))
        .route("/webhooks/{id}/rotate", post(webhooks::rotate::<S, P, K>))
        .route(
            "/admin/transactions/{id}/redeliver",
            post(webhooks::redeliver::<S, P, K>),
        )
        .route_layer(middleware::from_fn_with_state(
            app.clone(),
            authenticate::<S, P, K>,
        ));
    Router::new()
        .merge(authenticated)
        .route("/health", get(health::health::<S, P, K>))
        .route("/openapi.json", get(openapi::serve))
        .merge(status_page::routes(
            app.websocket_url.clone(),
            app.sign_in.clone(),
        ))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(app)
}

/// Puts the [`Caller`] in the request's extensions, or answers 401 (no credentials) or 403
/// (wrong ones).
async fn authenticate<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match &app.auth {
        Authenticator::Local(local) => {
            let caller = local
                .authenticate(request.headers())
                .map_err(ApiError::Unauthenticated)?;
            request.extensions_mut().insert(caller);
        }
        Authenticator::Gateway => {
            if request.extensions().get::<Caller>().is_none() {
                return Err(ApiError::Unauthenticated(AuthError::Missing));
            }
        }
    }
    Ok(next.run(request).await)
}

#[utoipa::path(
    post,
    path = "/transaction/broadcast",
    operation_id = "broadcast",
    tag = "transactions",
    security(("client" = [])),
    request_body(content = openapi::BroadcastRequest, content_type = "application/json"),
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$",
         description = "Makes retries safe: a repeat with the same key and body answers with the same `transaction_id` and creates nothing. The same key with another body is a 422. Remembered for 24 hours, per client."),
    ),
    responses((status = 200, description = "Stored in DynamoDB and published to SNS: from now on it will be broadcast.", body = Accepted)),
)]
async fn broadcast<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    S: Intake + Reading,
    P: RequestPublisher,
{
    let Caller::Client(client) = caller else {
        return Err(ApiError::Forbidden(
            "transactions are submitted with a client's API key, not an operator's credentials"
                .into(),
        ));
    };
    // A browser can send `text/plain` across origins without asking first; JSON it can't.
    if !is_json(&headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let idempotency_key = idempotency_key(&headers)?;
    let bytes = read_body(body, MAX_BODY_BYTES).await?;
    let request = validation::parse_request(&bytes).map_err(ApiError::BadRequest)?;
    let (chain_id, chain) = app
        .chain(request.chain.as_ref())
        .map_err(ApiError::Unprocessable)?;
    let call =
        validation::validate_call(&request, &chain.policy).map_err(ApiError::Unprocessable)?;
    // A key names one request: the same call on another chain is another request.
    let on_chain = (chain_id != app.chains.first_id()).then_some(chain_id);

    let new = NewTransaction {
        id: TxId::generate(),
        idempotency: idempotency_key.map(|key| Idempotency {
            request_fingerprint: fingerprint(&call.message_type, &call.data, on_chain),
            key,
        }),
        message_type: call.message_type,
        function_signature: call.function_signature,
        data: call.data,
        chain_id,
        client,
        created_at: OffsetDateTime::now_utc(),
    };
    let span = tracing::info_span!("broadcast", transaction_id = %new.id);
    async move {
        match app.store.insert_new(&new).await {
            Ok(Inserted::Created(tx)) => {
                if let Err(e) = app.publisher.publish(&TxMessage::new(tx.id)).await {
                    tracing::error!(error = %e, "publish failed; withdrawing the request");
                    return Err(ApiError::NotQueued {
                        id: tx.id,
                        withdrawal: withdraw(&app.store, &tx).await,
                    });
                }
                tracing::info!(function = %tx.function_signature, "accepted");
                Ok(accepted(tx.id, tx.status))
            }
            // The key names a request on another chain (the default chain moved since): the
            // same key can't name both.
            Ok(Inserted::Duplicate(tx)) if tx.chain_id != chain_id => {
                Err(ApiError::IdempotencyKeyReused(tx.id))
            }
            Ok(Inserted::Duplicate(tx)) => {
                tracing::info!(transaction_id = %tx.id, "idempotent repeat");
                // The first attempt may have stored it but failed to publish: publishing again
                // is harmless (the signer claims each transaction once) and keeps the promise.
                if tx.status == Status::Received {
                    app.publisher
                        .publish(&TxMessage::new(tx.id))
                        .await
                        .map_err(|_| ApiError::NotQueued {
                            id: tx.id,
                            withdrawal: Withdrawal::Kept,
                        })?;
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

/// What `POST /transaction/broadcast` answers with.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    #[schema(format = "uuid")]
    transaction_id: String,
    /// `received` for a new request; a repeat with its `Idempotency-Key` shows where its
    /// transaction is now.
    status: Status,
}

fn accepted(id: TxId, status: Status) -> Response {
    let body = Accepted {
        transaction_id: id.to_string(),
        status,
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// The fingerprint binds an idempotency key to the request it was first used with. The
/// default chain's requests are fingerprinted as before chains could be named (a key first used
/// then still names the same request); another chain's id is part of its requests'.
fn fingerprint(message_type: &str, data: &[u8], on_chain: Option<u64>) -> alloy::primitives::B256 {
    let mut preimage = Vec::with_capacity(message_type.len() + 1 + data.len() + 9);
    preimage.extend_from_slice(message_type.as_bytes());
    preimage.push(0);
    preimage.extend_from_slice(data);
    if let Some(chain_id) = on_chain {
        preimage.push(0);
        preimage.extend_from_slice(&chain_id.to_be_bytes());
    }
    keccak256(preimage)
}

/// A body of at most `limit` bytes (no more is read), or 400 `body_too_large`.
async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::BadRequest(RequestError::TooLarge { limit }))
}

/// `Content-Type: application/json`, with or without parameters such as `charset`.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
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

/// Withdraws a request whose publication failed, and says what became of it. A failed or
/// cancelled delete is read back rather than assumed: a delete that committed but timed out,
/// retried, fails its condition on the missing item, and telling that client "it stays" would
/// lose its request.
async fn withdraw<S: Intake + Reading>(
    store: &S,
    tx: &tx_shared::domain::Transaction,
) -> Withdrawal {
    match store.discard_unpublished(tx).await {
        Ok(true) => return Withdrawal::Withdrawn,
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "could not withdraw the unpublished request"),
    }
    match store.get(tx.id).await {
        Ok(None) => Withdrawal::Withdrawn,
        Ok(Some(_)) => Withdrawal::Kept,
        Err(e) => {
            tracing::error!(error = %e, "could not tell whether the unpublished request stays");
            Withdrawal::Unknown
        }
    }
}

#[cfg(test)]
mod chains_tests;
#[cfg(test)]
mod not_queued_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhooks_tests;
