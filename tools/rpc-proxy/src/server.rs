//! Serving: the JSON-RPC front door, the admin routes, and the connection loop that can close a
//! connection without answering (which `axum::serve` cannot).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::Service;
use url::Url;

use crate::config::{ConfigError, FailNext, ProxyConfig, RpcErrorKind};
use crate::jsonrpc::Calls;
use crate::plan::{Action, Plan, plan_request};
use crate::stats::ProxyStats;

/// Raised well above axum's 2 MiB default: a benchmark may batch many raw transactions.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// State shared by the handle, the admin routes and every request.
pub(crate) struct Shared {
    state: Mutex<ProxyState>,
    /// By sender, the nonces let through the pending limit that the chain has not mined
    /// (the node holds them, pending or queued behind a gap).
    in_pool: Mutex<std::collections::HashMap<alloy::primitives::Address, SenderPool>>,
    upstream: Url,
    client: reqwest::Client,
    /// Turns `true` (or its sender is dropped) when the proxy stops.
    stopping: watch::Receiver<bool>,
}

/// Everything that changes while the proxy runs, behind one lock.
struct ProxyState {
    config: ProxyConfig,
    rng: StdRng,
    stats: ProxyStats,
}

/// A sender's transactions the node holds, as far as the proxy let them through.
#[derive(Default)]
struct SenderPool {
    nonces: std::collections::BTreeSet<u64>,
    /// The highest "next nonce to mine" the node has told for the sender.
    mined_next: u64,
}

/// What happens to one request, decided (and counted) as it arrives.
enum Decision {
    PassThrough,
    Planned(Plan),
}

impl Shared {
    pub(crate) fn new(
        config: ProxyConfig,
        upstream: Url,
        client: reqwest::Client,
        stopping: watch::Receiver<bool>,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            state: Mutex::new(ProxyState {
                rng: rng_for(&config),
                config,
                stats: ProxyStats::default(),
            }),
            in_pool: Mutex::default(),
            upstream,
            client,
            stopping,
        })
    }

    /// The sender's latest nonce as the node sees it (the next one it will mine).
    async fn mined_next(&self, sender: alloy::primitives::Address) -> Option<u64> {
        let body = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getTransactionCount",
            "params": [sender, "latest"],
        });
        let answer: serde_json::Value = self
            .client
            .post(self.upstream.clone())
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        u64::from_str_radix(answer["result"].as_str()?.trim_start_matches("0x"), 16).ok()
    }

    /// Whether a send must be refused for its sender's pending limit. The proxy models a pool
    /// that keeps at most `max_pending_per_sender` executable transactions per sender and no
    /// queue: a new nonce is let through only if it extends the sender's run of nonces from
    /// the chain's next one (the others are let through, not mined) and the run is under the
    /// limit. A nonce behind a gap is refused too, so later nonces never take the slots the
    /// next one needs. Replacements pass.
    async fn admit(&self, body: &[u8]) -> Result<(), ()> {
        let Some(limit) = self.lock().config.max_pending_per_sender else {
            return Ok(());
        };
        let Some((sender, nonce)) =
            crate::sender::raw_sent(body).and_then(|raw| crate::sender::sender_and_nonce(&raw))
        else {
            return Ok(());
        };
        let Some(mined_next) = self.mined_next(sender).await else {
            return Ok(());
        };
        let mut in_pool = self.in_pool.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = in_pool.entry(sender).or_default();
        // Concurrent sends read the chain at different moments: the newest reading stands.
        pool.mined_next = pool.mined_next.max(mined_next);
        let mined_next = pool.mined_next;
        pool.nonces.retain(|held| *held >= mined_next);
        if nonce < mined_next || pool.nonces.contains(&nonce) {
            // Mined already (the node says so), or a replacement: no new slot.
            return Ok(());
        }
        let run = (mined_next..)
            .take_while(|n| pool.nonces.contains(n))
            .count();
        let extends = nonce == mined_next + run as u64;
        if !extends || run >= limit as usize {
            drop(in_pool);
            self.lock().stats.pending_limit_refusals += 1;
            tracing::info!(%sender, nonce, run, limit, "refusing a send: the sender's pending limit");
            return Err(());
        }
        pool.nonces.insert(nonce);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, ProxyState> {
        // Nothing panics while holding the lock, and the state is plain values that stay
        // consistent even if something did, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn config(&self) -> ProxyConfig {
        self.lock().config.clone()
    }

    pub(crate) fn set_config(&self, config: ProxyConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let mut state = self.lock();
        state.rng = rng_for(&config);
        state.config = config;
        Ok(())
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut ProxyConfig)) -> Result<(), ConfigError> {
        // One lock for read, change and write, so concurrent updates are not lost.
        let mut state = self.lock();
        let mut config = state.config.clone();
        change(&mut config);
        config.validate()?;
        state.rng = rng_for(&config);
        state.config = config;
        Ok(())
    }

    pub(crate) fn fail_next(&self, fail_next: FailNext) {
        self.lock().config.fail_next = (fail_next.count > 0).then_some(fail_next);
    }

    pub(crate) fn stats(&self) -> ProxyStats {
        self.lock().stats.clone()
    }

    pub(crate) fn reset_stats(&self) -> ProxyStats {
        std::mem::take(&mut self.lock().stats)
    }

    fn decide(&self, calls: &Calls) -> Decision {
        let mut guard = self.lock();
        let ProxyState { config, rng, stats } = &mut *guard;
        count(stats, calls);
        if !config.applies_to(calls.methods()) {
            stats.passed_through += 1;
            return Decision::PassThrough;
        }
        let plan = plan_request(config, rng);
        if plan.slow {
            stats.slow += 1;
        }
        if let Some(fault) = plan.action.fault() {
            stats.faults.record(fault);
        }
        Decision::Planned(plan)
    }

    async fn forward(&self, body: Bytes) -> Response {
        let forge = self.lock().config.forge_receipt_block_hash && asks_for_a_receipt(&body);
        let response = self.forward_as_is(body).await;
        if !forge {
            return response;
        }
        let (parts, answer) = response.into_parts();
        let bytes = axum::body::to_bytes(answer, usize::MAX)
            .await
            .unwrap_or_default();
        match forged(&bytes) {
            Some(lie) => {
                self.lock().stats.forged_receipts += 1;
                tracing::info!("answering a receipt with a block hash that is not the chain's");
                (parts, lie).into_response()
            }
            None => (parts, bytes).into_response(),
        }
    }

    async fn forward_as_is(&self, body: Bytes) -> Response {
        self.lock().stats.forwarded += 1;
        let sent = self
            .client
            .post(self.upstream.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let answered = match sent {
            Ok(answer) => {
                let status = answer.status();
                let content_type = answer.headers().get(CONTENT_TYPE).cloned();
                answer
                    .bytes()
                    .await
                    .map(|bytes| (status, content_type, bytes))
            }
            Err(error) => Err(error),
        };
        match answered {
            Ok((status, content_type, bytes)) => {
                let mut response = (status, bytes).into_response();
                if let Some(content_type) = content_type {
                    response.headers_mut().insert(CONTENT_TYPE, content_type);
                }
                response
            }
            Err(error) => {
                self.lock().stats.upstream_errors += 1;
                tracing::warn!(upstream = %self.upstream, error = ?error, "upstream did not answer");
                (
                    StatusCode::BAD_GATEWAY,
                    "rpc-proxy: the upstream node did not answer",
                )
                    .into_response()
            }
        }
    }
}

/// One request and its calls, by method, in the stats.
fn count(stats: &mut ProxyStats, calls: &Calls) {
    stats.requests += 1;
    for method in calls.methods() {
        *stats.calls_by_method.entry(method.to_owned()).or_default() += 1;
    }
}

/// Whether the request is one `eth_getTransactionReceipt` call.
fn asks_for_a_receipt(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|call| call["method"] == "eth_getTransactionReceipt")
}

/// The answer with its receipt's `blockHash` replaced, if it has a receipt.
fn forged(answer: &[u8]) -> Option<Bytes> {
    let mut answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let receipt = answer.get_mut("result")?.as_object_mut()?;
    receipt.insert(
        "blockHash".into(),
        serde_json::Value::String(format!("0x{}", "ee".repeat(32))),
    );
    serde_json::to_vec(&answer).ok().map(Bytes::from)
}

fn rng_for(config: &ProxyConfig) -> StdRng {
    match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    }
}

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Clone, Copy)]
struct CloseWithoutAnswer;

#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer, on purpose")]
struct ClosedOnPurpose;

fn close_without_answer() -> Response {
    let mut response = Response::new(Body::empty());
    response.extensions_mut().insert(CloseWithoutAnswer);
    response
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", post(json_rpc))
        .route("/_proxy/config", get(get_config).put(put_config))
        .route("/_proxy/fail-next", post(post_fail_next))
        .route("/_proxy/stats", get(get_stats))
        .route("/_proxy/reset-stats", post(post_reset_stats))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}

async fn json_rpc(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let calls = Calls::read(&body);
    let Ok(()) = shared.admit(&body).await else {
        count(&mut shared.lock().stats, &calls);
        return axum::Json(crate::sender::pool_full(&body)).into_response();
    };
    let decision = shared.decide(&calls);
    // On a task of its own so that a client giving up does not cancel it: like a real node,
    // the proxy finishes (and forwards) what it has received.
    let carried_out = tokio::spawn(carry_out(shared, decision, calls, body));
    match carried_out.await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(error = %error, "request task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rpc-proxy: internal error",
            )
                .into_response()
        }
    }
}

async fn carry_out(shared: Arc<Shared>, decision: Decision, calls: Calls, body: Bytes) -> Response {
    tokio::select! {
        response = answer(&shared, decision, &calls, body) => response,
        () = stopped(shared.stopping.clone()) => close_without_answer(),
    }
}

async fn answer(shared: &Shared, decision: Decision, calls: &Calls, body: Bytes) -> Response {
    let plan = match decision {
        Decision::PassThrough => return shared.forward(body).await,
        Decision::Planned(plan) => plan,
    };
    let methods = calls.methods().collect::<Vec<_>>().join(",");
    let delay_ms = millis(plan.delay);
    match plan.action {
        Action::Forward => {
            if plan.slow {
                tracing::info!(methods, delay_ms, "slow answer");
            }
            forward_and_delay(shared, &plan, body).await
        }
        Action::RpcError(kind) => {
            tracing::info!(methods, delay_ms, error = %kind, "injecting JSON-RPC error");
            if kind.forwards_upstream() {
                let upstream = forward_and_delay(shared, &plan, body).await;
                tracing::debug!(methods, upstream_status = %upstream.status(), "forwarded before answering the error");
            } else {
                tokio::time::sleep(plan.delay).await;
            }
            rpc_error(calls, kind)
        }
        Action::Http5xx(status) => {
            tracing::info!(
                methods,
                delay_ms,
                status = status.as_u16(),
                "injecting HTTP error"
            );
            tokio::time::sleep(plan.delay).await;
            (status, "rpc-proxy: injected HTTP error").into_response()
        }
        Action::Drop => {
            tracing::info!(methods, delay_ms, "injecting dropped connection");
            tokio::time::sleep(plan.delay).await;
            close_without_answer()
        }
        Action::Hang(hold) => {
            tracing::info!(methods, hold_ms = millis(hold), "injecting hang");
            tokio::time::sleep(hold).await;
            close_without_answer()
        }
    }
}

/// Whole milliseconds as a plain number for the logs (`as_millis` is a u128, which JSON logs
/// render as a string).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn forward_and_delay(shared: &Shared, plan: &Plan, body: Bytes) -> Response {
    if plan.forward_first {
        let response = shared.forward(body).await;
        tokio::time::sleep(plan.delay).await;
        response
    } else {
        tokio::time::sleep(plan.delay).await;
        shared.forward(body).await
    }
}

fn rpc_error(calls: &Calls, kind: RpcErrorKind) -> Response {
    let mut response = (StatusCode::OK, calls.error_answer(kind).to_string()).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Why an admin request was refused; answered as `{"error": {"code", "message"}}`, like the API.
#[derive(Debug, thiserror::Error)]
enum AdminError {
    #[error("the body is not valid JSON for this endpoint: {0}")]
    InvalidJson(#[from] serde_json::Error),
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let code = match self {
            AdminError::InvalidJson(_) => "invalid_json",
            AdminError::InvalidConfig(_) => "invalid_config",
        };
        let body = json!({ "error": { "code": code, "message": self.to_string() } });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    Ok(serde_json::from_slice(body)?)
}

async fn get_config(State(shared): State<Arc<Shared>>) -> axum::Json<ProxyConfig> {
    axum::Json(shared.config())
}

async fn put_config(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<axum::Json<ProxyConfig>, AdminError> {
    let config: ProxyConfig = parse(&body)?;
    shared.set_config(config)?;
    tracing::info!(config = ?shared.config(), "config replaced");
    Ok(axum::Json(shared.config()))
}

async fn post_fail_next(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<axum::Json<ProxyConfig>, AdminError> {
    let fail_next: FailNext = parse(&body)?;
    shared.fail_next(fail_next);
    tracing::info!(count = fail_next.count, fault = %fail_next.fault, "fail_next set");
    Ok(axum::Json(shared.config()))
}

async fn get_stats(State(shared): State<Arc<Shared>>) -> axum::Json<ProxyStats> {
    axum::Json(shared.stats())
}

/// Answers the stats as they were just before the reset.
async fn post_reset_stats(State(shared): State<Arc<Shared>>) -> axum::Json<ProxyStats> {
    axum::Json(shared.reset_stats())
}

/// Accepts connections until `stopping` turns true (or its sender is dropped), then cuts the
/// open ones: a test proxy has nothing worth draining.
pub(crate) async fn serve(listener: TcpListener, router: Router, stopping: watch::Receiver<bool>) {
    let stopped = stopped(stopping);
    tokio::pin!(stopped);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(stream, peer, router.clone()));
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Resolves when the proxy stops: the flag turns true, or its sender (the handle) is dropped.
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, router: Router) {
    // Answers are small and latency is what is being measured.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request: Request<Incoming>| {
        let mut router = router.clone();
        async move {
            // A `Router` is always ready, so `poll_ready` need not be called first.
            let response = match router.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<CloseWithoutAnswer>().is_some() {
                // hyper closes the connection, sending nothing, when the service fails.
                Err(ClosedOnPurpose)
            } else {
                Ok(response)
            }
        }
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(peer = %peer, error = %error, "connection closed");
    }
}
