//! A typed client for the tx-broadcaster API (`docs/openapi.json` describes it), and the
//! verification of webhook signatures ([`webhook`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), tx_broadcaster_client::Error> {
//! use tx_broadcaster_client::{BroadcastRequest, Client, Credentials};
//!
//! // The HTTP client's timeouts and TLS are the caller's: give it a timeout.
//! let http = reqwest::Client::builder()
//!     .timeout(std::time::Duration::from_secs(30))
//!     .build()?;
//! let client = Client::new(http, "http://127.0.0.1:3000", Credentials::ApiKey("…".into()));
//! let request = BroadcastRequest::new(
//!     "add_weight(address _addr, uint256 _weight)",
//!     "0x1c41742f…",
//! );
//! // The same key makes a retry after a timeout safe: it answers with the same transaction.
//! let accepted = client.broadcast(&request, Some("order-1234")).await?;
//! let tx = client.transaction(&accepted.transaction_id).await?;
//! println!("{} is {:?}", tx.transaction_id, tx.status);
//! # Ok(()) }
//! ```
//!
//! Every error the API answers with is [`Error::Api`], with its stable `code`. A client is
//! cheap to clone and shares its connections.

pub mod webhook;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The most bytes read of any answer: the API's largest (a page of 100 transactions with
/// their histories) is far smaller; a server that sends more is not this API.
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Who the client is.
#[derive(Clone)]
pub enum Credentials {
    /// A client service: its API key (`x-api-key`).
    ApiKey(String),
    /// An operator: a bearer token (a Cognito JWT on AWS, `$ADMIN_TOKEN` locally).
    Bearer(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret itself.
        f.write_str(match self {
            Credentials::ApiKey(_) => "ApiKey(…)",
            Credentials::Bearer(_) => "Bearer(…)",
        })
    }
}

/// The API at one base URL, as one client or operator.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API answered with an error: `code` is stable (the README and the OpenAPI document
    /// list them), `message` is for a human.
    #[error("{status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// With `not_queued`: the request is stored and will be executed; follow this
        /// transaction instead of sending the request again.
        transaction_id: Option<String>,
    },
    /// No answer (connection, timeout), or one that could not be read.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// An answer that is not this API's: unexpected status or shape, or too large.
    #[error("unexpected answer ({status}): {detail}")]
    Unexpected { status: u16, detail: String },
    /// A request this client will not send (the API would refuse it).
    #[error("not sent: {0}")]
    NotSent(&'static str),
}

impl Error {
    /// The API's error code, if the API answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// `POST /transaction/broadcast`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BroadcastRequest {
    pub message_type: String,
    pub data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
}

impl BroadcastRequest {
    /// A call on the deployment's default chain.
    pub fn new(message_type: impl Into<String>, data: impl Into<String>) -> Self {
        BroadcastRequest {
            message_type: message_type.into(),
            data: data.into(),
            chain: None,
        }
    }

    /// The same call on another chain.
    pub fn on(self, chain: Chain) -> Self {
        BroadcastRequest {
            chain: Some(chain),
            ..self
        }
    }
}

/// A chain, by id or by its configured name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Chain {
    Id(u64),
    Name(String),
}

/// Where a transaction is in its life. A status this client does not know yet (a newer
/// server) is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    Retrying,
    Signed,
    Broadcast,
    Confirmed,
    Reverted,
    NeedsReview,
    #[serde(other)]
    Other,
}

impl Status {
    /// Confirmed, reverted, or waiting for an operator: nothing more happens by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Confirmed | Status::Reverted | Status::NeedsReview
        )
    }
}

/// What `POST /transaction/broadcast` answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub transaction_id: String,
    pub status: Status,
}

/// One transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub transaction_id: String,
    pub status: Status,
    pub message_type: String,
    pub function_signature: String,
    pub data: String,
    pub chain_id: u64,
    pub client_id: Option<String>,
    pub nonce: Option<u64>,
    pub signer_address: Option<String>,
    pub to: Option<String>,
    pub tx_hash: Option<String>,
    pub block_number: Option<u64>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub dead_lettered: bool,
    pub hashes: Vec<String>,
    pub history: Vec<HistoryEntry>,
    pub idempotency_key: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One step of a transaction's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ceiling_ms: Option<u64>,
}

/// A page of transactions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransactionPage {
    pub transactions: Vec<Transaction>,
    /// The next page's `cursor`; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /transactions`'s filters; all optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub message_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub q: Option<String>,
    pub chain: Option<String>,
    pub lane: Option<String>,
}

impl ListQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let status = self.status.and_then(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
        });
        [
            ("status", status),
            ("limit", self.limit.map(|l| l.to_string())),
            ("cursor", self.cursor.clone()),
            ("message_type", self.message_type.clone()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("q", self.q.clone()),
            ("chain", self.chain.clone()),
            ("lane", self.lane.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

/// Counts of the caller's transactions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Stats {
    pub passed: u64,
    pub failed: u64,
    pub pending: u64,
    pub by_status: std::collections::BTreeMap<String, u64>,
    /// The count stopped at its cap: the numbers are at least these.
    pub capped: bool,
}

/// `GET /transactions/timeline`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Timeline {
    /// The server's current minute, the last of the hour shown.
    pub now: String,
    pub chains: Vec<ChainTimeline>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChainTimeline {
    pub chain_id: u64,
    pub name: String,
    /// The minutes with any progress, oldest first.
    pub minutes: Vec<MinuteProgress>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MinuteProgress {
    pub minute: String,
    /// Steps counted in the minute, by the CloudWatch metrics' names (`Confirmed`, …).
    pub counts: std::collections::BTreeMap<String, u64>,
    /// The mean seconds between stages (`AcceptedToSignedSeconds`, …).
    pub mean_seconds: std::collections::BTreeMap<String, f64>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Health {
    /// `ok` or `degraded`.
    pub status: String,
    pub signer_address: String,
    pub chain_id: u64,
    pub chains: Vec<ChainHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChainHealth {
    pub chain_id: u64,
    pub name: String,
    pub default: bool,
    pub nodes: Vec<NodeHealth>,
    pub lanes: Vec<LaneHealth>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeHealth {
    pub node: String,
    pub healthy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LaneHealth {
    pub address: Option<String>,
    pub next_nonce: Option<u64>,
    pub in_flight: Option<u64>,
    pub balance_wei: Option<String>,
    /// `ok`, `stalled`, `underfunded`, `unknown` or `key_unavailable`.
    pub state: String,
}

/// What an operator's retry did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Retried {
    pub transaction_id: String,
    /// `resend_signed`, `resign_fresh_nonce` or `skip_wait`.
    pub action: String,
    pub status: Status,
}

/// What a client registers: where its deliveries go and the events it wants (`accepted`,
/// `broadcast`, `confirmed`, `reverted`, `needs_review`, `retried`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl NewWebhook {
    pub fn new(url: &str, events: &[&str]) -> Self {
        NewWebhook {
            url: url.to_owned(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            description: None,
        }
    }
}

/// A registered endpoint (its secret is never shown again).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub created_at: String,
    /// While a rotated-out secret still signs beside the current one: until when.
    pub previous_secret_expires_at: Option<String>,
}

/// A registration's answer: the endpoint, and the secret that signs its deliveries, shown only
/// in this answer.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    pub secret: String,
}

impl std::fmt::Debug for CreatedWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedWebhook")
            .field("endpoint", &self.endpoint)
            .field("secret", &"…")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct WebhookEndpoints {
    endpoints: Vec<WebhookEndpoint>,
}

/// A rotation's answer: the new secret (shown only here), and until when the previous one
/// signs too.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct RotatedSecret {
    pub id: String,
    pub secret: String,
    pub previous_secret_expires_at: Option<String>,
}

impl std::fmt::Debug for RotatedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedSecret")
            .field("id", &self.id)
            .field("secret", &"…")
            .field(
                "previous_secret_expires_at",
                &self.previous_secret_expires_at,
            )
            .finish()
    }
}

/// A transaction's webhook events and every attempt to deliver them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Deliveries {
    pub events: Vec<WebhookEvent>,
    pub attempts: Vec<DeliveryAttempt>,
    pub unlogged_events: u64,
    pub unlogged_attempts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookEvent {
    pub id: String,
    /// `accepted`, `broadcast`, `confirmed`, `reverted`, `needs_review` or `retried`.
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub endpoint_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeliveryAttempt {
    pub event_id: String,
    pub endpoint_id: String,
    pub attempt: u32,
    pub at: String,
    /// `delivered`, `failed`, `gave_up`, `refused` or `skipped`.
    pub outcome: String,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// Sent again by an operator.
    #[serde(default)]
    pub redelivery: bool,
}

/// What an operator's re-delivery queued.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Redelivered {
    pub events: usize,
    pub deliveries: usize,
}

impl Client {
    /// The API at `base_url` (`https://…/v1` on AWS, `http://127.0.0.1:3000` under `make dev`),
    /// through `http` (its timeouts, TLS and pool are the caller's).
    pub fn new(http: reqwest::Client, base_url: &str, credentials: Credentials) -> Self {
        Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            credentials,
        }
    }

    /// Submits a call. `idempotency_key` (1–255 visible ASCII characters) makes a retry of
    /// the same request safe.
    pub async fn broadcast(
        &self,
        request: &BroadcastRequest,
        idempotency_key: Option<&str>,
    ) -> Result<Accepted, Error> {
        let mut builder = self
            .request(reqwest::Method::POST, "/transaction/broadcast")
            .json(request);
        if let Some(key) = idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        answer(builder.send().await?).await
    }

    /// One transaction (the client's own; any, for an operator).
    pub async fn transaction(&self, id: &str) -> Result<Transaction, Error> {
        let path = format!("/transactions/{}", path_segment(id));
        answer(self.request(reqwest::Method::GET, &path).send().await?).await
    }

    /// A page of transactions, newest first.
    pub async fn transactions(&self, query: &ListQuery) -> Result<TransactionPage, Error> {
        if query.status == Some(Status::Other) {
            return Err(Error::NotSent(
                "`Status::Other` names no status the API knows: filter by a known one",
            ));
        }
        let path = format!("/transactions{}", query_string(&query.pairs()));
        answer(self.request(reqwest::Method::GET, &path).send().await?).await
    }

    /// Counts by status, of one chain with `chain`.
    pub async fn stats(&self, chain: Option<&str>) -> Result<Stats, Error> {
        let query: Vec<(&str, String)> =
            chain.map(|c| ("chain", c.to_owned())).into_iter().collect();
        let path = format!("/transactions/stats{}", query_string(&query));
        answer(self.request(reqwest::Method::GET, &path).send().await?).await
    }

    /// The pipeline's last hour per chain and minute (operators only), of one chain with
    /// `chain`.
    pub async fn timeline(&self, chain: Option<&str>) -> Result<Timeline, Error> {
        let query: Vec<(&str, String)> =
            chain.map(|c| ("chain", c.to_owned())).into_iter().collect();
        let path = format!("/transactions/timeline{}", query_string(&query));
        answer(self.request(reqwest::Method::GET, &path).send().await?).await
    }

    /// The service's health (public).
    pub async fn health(&self) -> Result<Health, Error> {
        answer(
            self.http
                .get(format!("{}/health", self.base))
                .send()
                .await?,
        )
        .await
    }

    /// An operator's retry of a transaction.
    pub async fn retry(&self, id: &str) -> Result<Retried, Error> {
        let path = format!("/admin/transactions/{}/retry", path_segment(id));
        answer(self.request(reqwest::Method::POST, &path).send().await?).await
    }

    /// Registers a webhook endpoint; the answer holds its secret, shown this once.
    pub async fn create_webhook(&self, webhook: &NewWebhook) -> Result<CreatedWebhook, Error> {
        let builder = self
            .request(reqwest::Method::POST, "/webhooks")
            .json(webhook);
        answer(builder.send().await?).await
    }

    /// The client's endpoints.
    pub async fn webhooks(&self) -> Result<Vec<WebhookEndpoint>, Error> {
        let listed: WebhookEndpoints = answer(
            self.request(reqwest::Method::GET, "/webhooks")
                .send()
                .await?,
        )
        .await?;
        Ok(listed.endpoints)
    }

    /// Removes an endpoint: nothing more is sent to it.
    pub async fn delete_webhook(&self, id: &str) -> Result<(), Error> {
        let path = format!("/webhooks/{}", path_segment(id));
        answer(self.request(reqwest::Method::DELETE, &path).send().await?).await
    }

    /// A new secret for an endpoint; the current one signs beside it for `overlap_seconds`
    /// (the API's default, a day, if `None`).
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        overlap_seconds: Option<u64>,
    ) -> Result<RotatedSecret, Error> {
        let path = format!("/webhooks/{}/rotate", path_segment(id));
        let body = serde_json::json!({ "overlap_seconds": overlap_seconds });
        let builder = match overlap_seconds {
            Some(_) => self.request(reqwest::Method::POST, &path).json(&body),
            None => self.request(reqwest::Method::POST, &path),
        };
        answer(builder.send().await?).await
    }

    /// A transaction's webhook events and every attempt to deliver them.
    pub async fn deliveries(&self, id: &str) -> Result<Deliveries, Error> {
        let path = format!("/transactions/{}/deliveries", path_segment(id));
        answer(self.request(reqwest::Method::GET, &path).send().await?).await
    }

    /// An operator's re-delivery of a transaction's webhook events (one, with `event_id`).
    pub async fn redeliver(&self, id: &str, event_id: Option<&str>) -> Result<Redelivered, Error> {
        let path = format!("/admin/transactions/{}/redeliver", path_segment(id));
        let builder = match event_id {
            Some(event) => self
                .request(reqwest::Method::POST, &path)
                .json(&serde_json::json!({ "event_id": event })),
            None => self.request(reqwest::Method::POST, &path),
        };
        answer(builder.send().await?).await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{path}", self.base));
        match &self.credentials {
            Credentials::ApiKey(key) => match reqwest::header::HeaderValue::from_str(key) {
                Ok(mut value) => {
                    // Kept out of reqwest's own debug output, as a bearer token is.
                    value.set_sensitive(true);
                    builder.header("x-api-key", value)
                }
                // Not a header value: sent as is, reqwest refuses it when the request is built.
                Err(_) => builder.header("x-api-key", key),
            },
            Credentials::Bearer(token) => builder.bearer_auth(token),
        }
    }
}

/// An id as one path segment: anything that is not a plain id character is escaped, so an id
/// can't name another route.
fn path_segment(id: &str) -> String {
    escaped(id)
}

/// Every byte but letters, digits, `-` and `_` percent-encoded.
fn escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `?name=value&…`, each value escaped; empty with no pairs.
fn query_string(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let joined: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{name}={}", escaped(value)))
        .collect();
    format!("?{}", joined.join("&"))
}

/// The error body every route answers with.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
    #[serde(default)]
    transaction_id: Option<String>,
}

/// A 2xx answer as `T`, anything else as the API's error.
async fn answer<T: DeserializeOwned>(mut response: reqwest::Response) -> Result<T, Error> {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Error::Unexpected {
                status,
                detail: format!("an answer over {MAX_ANSWER_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    if (200..300).contains(&status) {
        // No content (a removal): read as JSON's `null`, which is `()`.
        let body: &[u8] = if body.is_empty() { b"null" } else { &body };
        return serde_json::from_slice(body).map_err(|e| Error::Unexpected {
            status,
            detail: e.to_string(),
        });
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(ErrorBody { error }) => Err(Error::Api {
            status,
            code: error.code,
            message: error.message,
            transaction_id: error.transaction_id,
        }),
        Err(_) => Err(Error::Unexpected {
            status,
            detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_serializes_as_the_api_reads_it() {
        let request = BroadcastRequest::new("f()", "0x26121ff0");
        assert_eq!(
            serde_json::to_value(&request).unwrap_or_default(),
            serde_json::json!({ "message_type": "f()", "data": "0x26121ff0" })
        );
        let on = request.clone().on(Chain::Id(8453));
        assert_eq!(serde_json::to_value(&on).unwrap_or_default()["chain"], 8453);
        let named = request.on(Chain::Name("base".into()));
        assert_eq!(
            serde_json::to_value(&named).unwrap_or_default()["chain"],
            "base"
        );
    }

    #[test]
    fn an_unknown_status_is_other_and_ids_stay_one_segment() {
        let status: Status = serde_json::from_str("\"archived\"").unwrap_or(Status::Received);
        assert_eq!(status, Status::Other);
        assert!(Status::NeedsReview.is_final() && !Status::Broadcast.is_final());
        assert_eq!(path_segment("../admin"), "%2E%2E%2Fadmin");
        assert_eq!(
            path_segment("01a1ff4e-e546-7388-8064-8cb65a98204b"),
            "01a1ff4e-e546-7388-8064-8cb65a98204b"
        );
        assert_eq!(
            format!("{:?}", Credentials::ApiKey("secret".into())),
            "ApiKey(…)"
        );
    }

    #[tokio::test]
    // The crate can't reach tx_shared's builder (it stands alone): the provider is installed
    // here instead.
    #[allow(clippy::disallowed_methods)]
    async fn a_status_the_api_does_not_know_is_not_sent() {
        // This workspace's reqwest leaves the TLS provider to the program.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // Nothing listens there: the request must not even be tried.
        let client = Client::new(
            reqwest::Client::builder()
                .build()
                .unwrap_or_else(|e| panic!("{e}")),
            "http://127.0.0.1:9",
            Credentials::ApiKey("k".into()),
        );
        let query = ListQuery {
            status: Some(Status::Other),
            ..ListQuery::default()
        };
        assert!(matches!(
            client.transactions(&query).await,
            Err(Error::NotSent(_))
        ));
    }

    #[test]
    fn a_query_sends_only_what_is_set() {
        let query = ListQuery {
            status: Some(Status::NeedsReview),
            limit: Some(5),
            ..ListQuery::default()
        };
        assert_eq!(
            query.pairs(),
            vec![
                ("status", "needs_review".to_owned()),
                ("limit", "5".to_owned())
            ]
        );
        assert_eq!(query_string(&query.pairs()), "?status=needs_review&limit=5");
        assert_eq!(query_string(&[]), "");
        let signature = ListQuery {
            message_type: Some("f(uint256 a)&x=1".into()),
            ..ListQuery::default()
        };
        assert_eq!(
            query_string(&signature.pairs()),
            "?message_type=f%28uint256%20a%29%26x%3D1"
        );
    }
}
