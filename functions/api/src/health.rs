//! `/health`: every chain served, the default first, each with its nodes as the watchdog last
//! probed them and its lanes (each key's counter and the watchdog's last report), in a shape
//! monitors can rely on. The top-level `signer_address` and `chain_id` (the default chain's,
//! its first lane's) stay for the clients that read them.
//!
//! Public, so it is read from the table at most every [`FRESH_FOR`] per container, however
//! often it is asked.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use tx_shared::lanes::{LaneState, LaneView, REPORT_FRESH_FOR};
use tx_shared::ports::{Account, NodeHealth, NodesHealth, NonceCounter, TransactionSigner};

use alloy::primitives::Address;

use crate::error::ApiError;
use crate::{App, ServedChain};

/// How long an answer is served again before the table is read anew.
pub(crate) const FRESH_FOR: Duration = Duration::from_secs(5);

/// A node report older than this says nothing of the nodes now (the watchdog probes them
/// every minute).
const NODES_FRESH_FOR: time::Duration = time::Duration::minutes(5);

#[derive(Default)]
pub(crate) struct Cache(Mutex<Option<(Instant, Health)>>);

/// `GET /health`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    status: Overall,
    /// The default chain's first lane whose key can be read.
    #[schema(pattern = "^0x[0-9a-fA-F]{40}$")]
    signer_address: String,
    /// The default chain.
    chain_id: u64,
    /// Every chain served, the default first.
    chains: Vec<ChainHealth>,
}

/// `degraded` when, on any chain, no node answered the last probe or every lane is stalled or
/// underfunded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Overall {
    Ok,
    Degraded,
}

/// One chain served.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct ChainHealth {
    chain_id: u64,
    name: String,
    default: bool,
    /// As the watchdog last probed them, by label (empty with no probe in 5 minutes).
    nodes: Vec<NodeHealth>,
    lanes: Vec<LaneHealth>,
}

/// One lane (signing key) of a chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct LaneHealth {
    /// Null when its key can't be read.
    #[schema(pattern = "^0x[0-9a-fA-F]{40}$")]
    address: Option<String>,
    next_nonce: Option<u64>,
    in_flight: Option<u64>,
    /// Wei, in decimal digits.
    #[schema(pattern = "^[0-9]+$")]
    balance_wei: Option<String>,
    state: LaneHealthState,
}

/// A lane's state: the watchdog's last report, `unknown` with none in 5 minutes (its numbers
/// are then null), `key_unavailable` when its KMS key can't be read (the lane is left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LaneHealthState {
    Ok,
    Stalled,
    Underfunded,
    Unknown,
    KeyUnavailable,
}

impl From<LaneState> for LaneHealthState {
    fn from(state: LaneState) -> Self {
        match state {
            LaneState::Ok => LaneHealthState::Ok,
            LaneState::Stalled => LaneHealthState::Stalled,
            LaneState::Underfunded => LaneHealthState::Underfunded,
        }
    }
}

#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = "health",
    security(()),
    responses((status = 200, description = "Every chain served, the default first, each with its nodes and lanes. Read from the table at most every 5 s per instance.", body = Health)),
)]
pub(crate) async fn health<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
) -> Result<Json<Health>, ApiError>
where
    S: NonceCounter + NodesHealth,
    K: TransactionSigner,
{
    let cached = app
        .health
        .0
        .lock()
        .ok()
        .and_then(|c| c.clone())
        .filter(|(at, _)| at.elapsed() < FRESH_FOR);
    if let Some((_, answer)) = cached {
        return Ok(Json(answer));
    }
    let answer = read(&app).await?;
    if let Ok(mut cache) = app.health.0.lock() {
        *cache = Some((Instant::now(), answer.clone()));
    }
    Ok(Json(answer))
}

async fn read<S, P, K>(app: &App<S, P, K>) -> Result<Health, ApiError>
where
    S: NonceCounter + NodesHealth,
    K: TransactionSigner,
{
    let now = OffsetDateTime::now_utc();
    let chains = futures::future::try_join_all(app.chains.iter().map(|(chain_id, chain)| {
        chain_health(app, chain_id, chain, chain_id == app.chains.first_id(), now)
    }))
    .await?;
    let first = match app.signer_address.get() {
        Some(configured) => *configured,
        // The default chain's first lane whose key can be read: one that can't is shown, not
        // fatal.
        None => chains
            .first()
            .and_then(|c| c.addresses.iter().flatten().next().copied())
            .ok_or_else(|| unavailable("no lane's key can be read", &"KMS"))?,
    };
    let degraded = chains.iter().any(|c| c.degraded);
    Ok(Health {
        status: if degraded {
            Overall::Degraded
        } else {
            Overall::Ok
        },
        signer_address: first.to_string(),
        chain_id: app.chains.first_id(),
        chains: chains.into_iter().map(|c| c.shown).collect(),
    })
}

fn unavailable(what: &str, e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::Unavailable
}

/// One chain's part of the answer.
struct ChainRead {
    shown: ChainHealth,
    addresses: Vec<Option<Address>>,
    /// Every node down, or no lane that takes work.
    degraded: bool,
}

async fn chain_health<S, P, K>(
    app: &App<S, P, K>,
    chain_id: u64,
    chain: &ServedChain<K>,
    default: bool,
    now: OffsetDateTime,
) -> Result<ChainRead, ApiError>
where
    S: NonceCounter + NodesHealth,
    K: TransactionSigner,
{
    let addresses = chain.keys.addresses().await;
    let counters = futures::future::try_join_all(addresses.iter().map(|address| async move {
        match address {
            Some(address) => {
                app.store
                    .nonce_counter(Account {
                        chain_id,
                        address: *address,
                    })
                    .await
            }
            None => Ok(None),
        }
    }))
    .await
    .map_err(|e| unavailable("lane counters unreadable", &e))?;
    let lanes: Vec<LaneHealth> = addresses
        .iter()
        .zip(counters)
        .map(|(address, counter)| {
            let Some(address) = *address else {
                // Its key can't be read (disabled, unreachable): the lane is out.
                return LaneHealth {
                    address: None,
                    next_nonce: None,
                    in_flight: None,
                    balance_wei: None,
                    state: LaneHealthState::KeyUnavailable,
                };
            };
            let view = LaneView {
                address,
                next: counter.map(|c| c.next),
                report: counter.and_then(|c| c.lane),
                taken_since: 0,
            };
            let fresh = view.report.filter(|r| now - r.at < REPORT_FRESH_FOR);
            LaneHealth {
                address: Some(address.to_string()),
                next_nonce: view.next,
                in_flight: fresh.map(|_| view.in_flight()),
                balance_wei: fresh.map(|r| r.balance_wei.to_string()),
                state: fresh.map_or(LaneHealthState::Unknown, |r| r.state.into()),
            }
        })
        .collect();
    let nodes = app
        .store
        .nodes_health(chain_id)
        .await
        .map_err(|e| unavailable("node health unreadable", &e))?
        .filter(|(_, at)| now - *at < NODES_FRESH_FOR);
    let degraded = nodes
        .as_ref()
        .is_some_and(|(nodes, _)| !nodes.iter().any(|n| n.healthy))
        || (!lanes.is_empty()
            && lanes
                .iter()
                .all(|l| !matches!(l.state, LaneHealthState::Ok | LaneHealthState::Unknown)));
    Ok(ChainRead {
        shown: ChainHealth {
            chain_id,
            name: chain.name.clone(),
            default,
            nodes: nodes.map(|(nodes, _)| nodes).unwrap_or_default(),
            lanes,
        },
        addresses,
        degraded,
    })
}
