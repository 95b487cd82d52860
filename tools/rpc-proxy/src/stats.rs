//! What the proxy has seen and done since it started (or since the last reset).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Fault, RpcErrorKind};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// JSON-RPC HTTP requests received (a batch is one).
    pub requests: u64,
    /// JSON-RPC calls by method (each call of a batch counts).
    pub calls_by_method: BTreeMap<String, u64>,
    /// Requests outside the methods filter, passed straight through.
    pub passed_through: u64,
    /// Requests given the slow latency.
    pub slow: u64,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Requests sent upstream (pass-through, normal and slow answers, and "already known").
    pub forwarded: u64,
    /// Forwarded requests the upstream did not answer (answered to the client as 502).
    pub upstream_errors: u64,
    /// Receipts answered with a `blockHash` that is not the chain's.
    pub forged_receipts: u64,
    /// Sends refused for the sender's pending limit (`max_pending_per_sender`).
    #[serde(default)]
    pub pending_limit_refusals: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    pub http_5xx: u64,
    pub rpc_error: BTreeMap<RpcErrorKind, u64>,
    pub hang: u64,
    pub drop: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.http_5xx + self.rpc_error.values().sum::<u64>() + self.hang + self.drop
    }

    pub fn rpc_errors(&self) -> u64 {
        self.rpc_error.values().sum()
    }

    pub(crate) fn record(&mut self, fault: Fault) {
        match fault {
            Fault::Http5xx => self.http_5xx += 1,
            Fault::Hang => self.hang += 1,
            Fault::Drop => self.drop += 1,
            Fault::RpcError(kind) => *self.rpc_error.entry(kind).or_default() += 1,
        }
    }
}
