//! A fault-injecting JSON-RPC proxy: it sits in front of a real node (anvil, in tests and
//! benchmarks) and makes it look slow and flaky, on purpose and reproducibly.
//!
//! Every call in scope rolls once for one outcome: a fault (HTTP 5xx, a JSON-RPC error, a
//! hang, or a dropped connection), a slow answer, or a normal answer after `latency_ms`. The
//! [`ProxyConfig::challenge`] preset is the node of the challenge: it answers in 20–30 s 95% of
//! the time, takes over 30 s 1% of the time, and otherwise fails. `time_scale` multiplies every
//! delay, so `0.001` runs the same profile in milliseconds.
//!
//! # In a test
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use rpc_proxy::{Fault, ProxyConfig, RpcErrorKind};
//!
//! let config = ProxyConfig {
//!     methods: Some(vec!["eth_sendRawTransaction".to_owned()]),
//!     ..ProxyConfig::challenge().with_time_scale(0.001)
//! };
//! let proxy = rpc_proxy::start("http://127.0.0.1:8545", "127.0.0.1:0".parse()?, config).await?;
//! // Point the client at proxy.url(); the next send is answered "already known" after the
//! // node really received it.
//! proxy.fail_next(1, Fault::RpcError(RpcErrorKind::AlreadyKnown));
//! // … run the code under test …
//! assert_eq!(proxy.stats().faults.rpc_errors(), 1);
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # From the command line
//!
//! ```text
//! rpc-proxy --upstream http://127.0.0.1:8545 --listen 127.0.0.1:8546 --preset challenge --time-scale 0.01
//! ```
//!
//! `rpc-proxy --help` lists every flag. The flags start from `--config FILE` (a JSON
//! [`ProxyConfig`]) or `--preset`, then override single fields.
//!
//! # Over HTTP
//!
//! JSON-RPC (single requests and batches) is `POST /`. The admin routes live on the same port:
//!
//! | Route | Does |
//! | --- | --- |
//! | `GET /_proxy/config` | the current config (with what is left of `fail_next`) |
//! | `PUT /_proxy/config` | replaces the whole config (missing fields take their defaults) |
//! | `POST /_proxy/fail-next` | `{"count": 3, "fault": "drop"}`: the next calls in scope fail so |
//! | `GET /_proxy/stats` | the counters ([`ProxyStats`]) |
//! | `POST /_proxy/reset-stats` | zeroes them, answering the values they had |
//!
//! ```text
//! curl -X POST localhost:8546/_proxy/fail-next -d '{"count":1,"fault":{"rpc_error":"nonce_too_low"}}'
//! ```
//!
//! # Faults
//!
//! - `http_5xx`: HTTP 502 or 503 with a short text body.
//! - `rpc_error`: HTTP 200 with a JSON-RPC error carrying the request's id (one per call for a
//!   batch), picked uniformly from `rpc_errors`: `nonce_too_low`, `already_known`,
//!   `replacement_underpriced`, `insufficient_funds` (code -32000) or `internal` (-32603).
//!   `already_known` forwards the call first, so the node really has the transaction; the others
//!   never reach the node.
//! - `hang`: holds the connection for `hang_ms` (scaled), then closes it without an answer.
//! - `drop`: closes the connection without any HTTP response.
//!
//! - `max_pending_per_sender`: a node's per-sender pool limit, as a pool that keeps at most
//!   that many executable transactions per sender and no queue. A single
//!   `eth_sendRawTransaction` at a new nonce is let through only if it extends the sender's run
//!   of nonces from the chain's next one (those the proxy let through that the chain has not
//!   mined) and the run is under the limit; otherwise it is refused with `txpool is full`.
//!   Replacements pass. It counts only what went through the proxy: send everything through it.
//!
//! A batch gets one outcome for the whole HTTP request. With `methods` set, only requests that
//! call one of them see latency or faults; `fail_next` counts only those too. Requests are carried
//! out even if the client gives up waiting, as a node would. `seed` makes the rolls
//! reproducible: setting a config restarts the generator from it.

mod config;
mod jsonrpc;
mod plan;
mod sender;
mod server;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{ConfigError, FailNext, Fault, ProxyConfig, RpcErrorKind};
pub use jsonrpc::UNREADABLE_METHOD;
pub use stats::{FaultCounts, ProxyStats};

use server::Shared;

/// Generous, because the node behind is local and fast: the proxy's own delays come on top and
/// are not part of it.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("upstream {upstream:?} is not a valid URL")]
    InvalidUpstream {
        upstream: String,
        #[source]
        source: url::ParseError,
    },
    #[error("upstream {0:?} is not an http:// or https:// URL")]
    UnsupportedUpstream(String),
    #[error("invalid proxy config")]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the upstream HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// Starts the proxy in front of `upstream`, listening on `listen` (port 0 picks a free port;
/// see [`ProxyHandle::addr`]). It serves until [`ProxyHandle::shutdown`] or until the handle
/// is dropped.
pub async fn start(
    upstream: impl AsRef<str>,
    listen: SocketAddr,
    config: ProxyConfig,
) -> Result<ProxyHandle, ProxyError> {
    let upstream = upstream.as_ref();
    let upstream_url = url::Url::parse(upstream).map_err(|source| ProxyError::InvalidUpstream {
        upstream: upstream.to_owned(),
        source,
    })?;
    if !matches!(upstream_url.scheme(), "http" | "https") {
        return Err(ProxyError::UnsupportedUpstream(upstream.to_owned()));
    }
    let client = tx_shared::tls::reqwest_builder()
        .timeout(UPSTREAM_TIMEOUT)
        .build()
        .map_err(ProxyError::HttpClient)?;
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared::new(
        config,
        upstream_url.clone(),
        client,
        stopping.clone(),
    )?);
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ProxyError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Bind {
        addr: listen,
        source,
    })?;
    let server = tokio::spawn(server::serve(
        listener,
        server::router(shared.clone()),
        stopping,
    ));
    tracing::info!(listen = %addr, upstream = %upstream_url, "rpc-proxy listening");
    Ok(ProxyHandle {
        addr,
        shared,
        stop,
        server,
    })
}

/// A running proxy. Dropping it stops the proxy, like [`ProxyHandle::shutdown`] without the
/// wait.
pub struct ProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl ProxyHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JSON-RPC URL to give clients, e.g. `http://127.0.0.1:8546`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> ProxyConfig {
        self.shared.config()
    }

    /// Replaces the config; the random generator restarts from its `seed`.
    pub fn set_config(&self, config: ProxyConfig) -> Result<(), ConfigError> {
        self.shared.set_config(config)
    }

    /// Changes the current config in place (atomically, validated like
    /// [`ProxyHandle::set_config`]).
    pub fn update(&self, change: impl FnOnce(&mut ProxyConfig)) -> Result<(), ConfigError> {
        self.shared.update(change)
    }

    /// The next `count` calls in scope fail with `fault`; replaces any pending `fail_next`.
    pub fn fail_next(&self, count: u32, fault: Fault) {
        self.shared.fail_next(FailNext { count, fault });
    }

    pub fn stats(&self) -> ProxyStats {
        self.shared.stats()
    }

    /// Zeroes the counters, returning the values they had.
    pub fn reset_stats(&self) -> ProxyStats {
        self.shared.reset_stats()
    }

    /// Stops accepting, cuts open connections (in-flight requests get no answer) and waits for
    /// the server to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.server.await {
            tracing::warn!(error = %error, "rpc-proxy server task failed");
        }
        tracing::info!(listen = %self.addr, "rpc-proxy stopped");
    }
}
