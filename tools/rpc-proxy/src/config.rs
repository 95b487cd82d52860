//! What the proxy does to the calls it sees: latency, faults, and which methods they touch.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A JSON-RPC error the proxy can answer in the node's place, worded as geth and anvil word
/// it, so clients classify it exactly as they would a real one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RpcErrorKind {
    NonceTooLow,
    AlreadyKnown,
    ReplacementUnderpriced,
    InsufficientFunds,
    Internal,
}

impl RpcErrorKind {
    pub const ALL: [RpcErrorKind; 5] = [
        RpcErrorKind::NonceTooLow,
        RpcErrorKind::AlreadyKnown,
        RpcErrorKind::ReplacementUnderpriced,
        RpcErrorKind::InsufficientFunds,
        RpcErrorKind::Internal,
    ];

    /// The JSON-RPC error code: -32000 is what nodes use for transaction-pool rejections.
    pub fn code(self) -> i64 {
        match self {
            RpcErrorKind::Internal => -32603,
            _ => -32000,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            RpcErrorKind::NonceTooLow => "nonce too low",
            RpcErrorKind::AlreadyKnown => "already known",
            RpcErrorKind::ReplacementUnderpriced => "replacement transaction underpriced",
            RpcErrorKind::InsufficientFunds => "insufficient funds for gas * price + value",
            RpcErrorKind::Internal => "internal error",
        }
    }

    /// The name used in JSON, flags and logs.
    pub fn name(self) -> &'static str {
        match self {
            RpcErrorKind::NonceTooLow => "nonce_too_low",
            RpcErrorKind::AlreadyKnown => "already_known",
            RpcErrorKind::ReplacementUnderpriced => "replacement_underpriced",
            RpcErrorKind::InsufficientFunds => "insufficient_funds",
            RpcErrorKind::Internal => "internal",
        }
    }

    /// "already known" is only honest if the node really has the transaction, so the call is
    /// forwarded first; the other errors mean the node did nothing.
    pub fn forwards_upstream(self) -> bool {
        self == RpcErrorKind::AlreadyKnown
    }
}

/// A fault that `fail_next` injects deterministically.
///
/// JSON: `"http_5xx"`, `"hang"`, `"drop"` or `{"rpc_error": "<kind>"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answer HTTP 502 or 503 with a short text body.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Hold the connection for `hang_ms`, then close it without an answer.
    Hang,
    /// Close the connection at once, without any HTTP response.
    Drop,
    /// Answer HTTP 200 with a JSON-RPC error object.
    RpcError(RpcErrorKind),
}

impl std::fmt::Display for RpcErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Http5xx => f.write_str("http_5xx"),
            Fault::Hang => f.write_str("hang"),
            Fault::Drop => f.write_str("drop"),
            Fault::RpcError(kind) => write!(f, "rpc_error:{kind}"),
        }
    }
}

/// The next `count` calls in scope fail with `fault`, before any probability is rolled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNext {
    pub count: u32,
    pub fault: Fault,
}

/// The proxy's behaviour. Every field has a default, so a JSON config names only what it
/// changes; `{}` is a transparent proxy.
///
/// Each call in scope rolls once for one of: a fault (5xx, JSON-RPC error, hang, drop), a
/// slow answer, or a normal answer. The probabilities are disjoint slices of one roll, so they
/// must add up to at most 1. Faults other than `hang` come after the normal latency: a slow
/// node is slow at failing too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Multiplies every delay (latency, slow latency, hang): 0.001 turns seconds into
    /// milliseconds, so the challenge profile runs in a test.
    pub time_scale: f64,
    /// Normal latency, uniform in `[min, max]` milliseconds.
    pub latency_ms: [u64; 2],
    pub slow_probability: f64,
    /// Latency of a slow answer, uniform in `[min, max]` milliseconds.
    pub slow_latency_ms: [u64; 2],
    pub http_5xx_probability: f64,
    pub rpc_error_probability: f64,
    /// The kinds a probabilistic JSON-RPC error picks from, uniformly.
    pub rpc_errors: Vec<RpcErrorKind>,
    pub hang_probability: f64,
    /// How long a hang holds the connection before closing it without an answer.
    pub hang_ms: u64,
    pub drop_probability: f64,
    /// When set, latency and faults touch only calls to these methods (a batch is in scope if
    /// any of its calls is); everything else passes straight through.
    pub methods: Option<Vec<String>>,
    /// Deterministic faults for the next calls in scope; its count goes down as they happen.
    pub fail_next: Option<FailNext>,
    /// Seeds the random rolls; every time a config is set the generator restarts from it.
    pub seed: Option<u64>,
    /// `true`: the call goes upstream first and the answer is delayed afterwards, so a client
    /// that gives up waiting has still had its call executed (a node that is slow to answer,
    /// not slow to act). `false`: the delay comes first.
    pub forward_before_latency: bool,
    /// A node that lies about receipts: every `eth_getTransactionReceipt` that finds one answers
    /// it with a `blockHash` that is not the chain's (as from a block a reorganisation took
    /// away). Applies whatever `methods` says.
    pub forge_receipt_block_hash: bool,
    /// A node's per-sender pool limit: an `eth_sendRawTransaction` at a new nonce of a sender
    /// that already has this many transactions in the pool (let through, not mined) is refused
    /// as a full pool does ("txpool is full"); a replacement is let through. Applies whatever
    /// `methods` says.
    #[serde(default)]
    pub max_pending_per_sender: Option<u32>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            time_scale: 1.0,
            latency_ms: [0, 0],
            slow_probability: 0.0,
            slow_latency_ms: [0, 0],
            http_5xx_probability: 0.0,
            rpc_error_probability: 0.0,
            rpc_errors: RpcErrorKind::ALL.to_vec(),
            hang_probability: 0.0,
            hang_ms: 60_000,
            drop_probability: 0.0,
            methods: None,
            fail_next: None,
            seed: None,
            forward_before_latency: false,
            forge_receipt_block_hash: false,
            max_pending_per_sender: None,
        }
    }
}

/// Why a config was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("time_scale must be a finite number >= 0, got {0}")]
    TimeScale(f64),
    #[error("{field} must be between 0 and 1, got {value}")]
    Probability { field: &'static str, value: f64 },
    #[error("the fault and slow probabilities add up to {total}, more than 1")]
    ProbabilitiesOverOne { total: f64 },
    #[error("{field} is [{min}, {max}]: min must not exceed max")]
    Range {
        field: &'static str,
        min: u64,
        max: u64,
    },
    #[error("rpc_error_probability is above 0 but rpc_errors lists no kind")]
    NoRpcErrorKinds,
    #[error("max_pending_per_sender must be at least 1")]
    NoPendingAllowed,
}

impl ProxyConfig {
    /// The slow, flaky node of the challenge: answers in 20–30 s 95% of the time, takes over
    /// 30 s (30–45 s) 1% of the time, and otherwise fails: 1% each HTTP 5xx, JSON-RPC error
    /// (any kind), hang (60 s, then closed) and dropped connection.
    pub fn challenge() -> Self {
        Self {
            latency_ms: [20_000, 30_000],
            slow_probability: 0.01,
            // "Over 30 s": strictly above the normal range's top.
            slow_latency_ms: [30_001, 45_000],
            http_5xx_probability: 0.01,
            rpc_error_probability: 0.01,
            rpc_errors: RpcErrorKind::ALL.to_vec(),
            hang_probability: 0.01,
            hang_ms: 60_000,
            drop_probability: 0.01,
            ..Self::default()
        }
    }

    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = time_scale;
        self
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.time_scale.is_finite() || self.time_scale < 0.0 {
            return Err(ConfigError::TimeScale(self.time_scale));
        }
        if self.max_pending_per_sender == Some(0) {
            return Err(ConfigError::NoPendingAllowed);
        }
        let probabilities = [
            ("slow_probability", self.slow_probability),
            ("http_5xx_probability", self.http_5xx_probability),
            ("rpc_error_probability", self.rpc_error_probability),
            ("hang_probability", self.hang_probability),
            ("drop_probability", self.drop_probability),
        ];
        for (field, value) in probabilities {
            // Written so that NaN fails too.
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::Probability { field, value });
            }
        }
        let total: f64 = probabilities.iter().map(|(_, p)| p).sum();
        // Tolerates float rounding in sums such as 0.7 + 0.2 + 0.1.
        if total > 1.0 + 1e-9 {
            return Err(ConfigError::ProbabilitiesOverOne { total });
        }
        for (field, [min, max]) in [
            ("latency_ms", self.latency_ms),
            ("slow_latency_ms", self.slow_latency_ms),
        ] {
            if min > max {
                return Err(ConfigError::Range { field, min, max });
            }
        }
        if self.rpc_error_probability > 0.0 && self.rpc_errors.is_empty() {
            return Err(ConfigError::NoRpcErrorKinds);
        }
        Ok(())
    }

    /// Whether latency and faults apply to a request made of these method calls.
    pub fn applies_to<'a>(&self, mut methods: impl Iterator<Item = &'a str>) -> bool {
        match &self.methods {
            None => true,
            Some(only) => methods.any(|method| only.iter().any(|m| m == method)),
        }
    }

    /// `ms` milliseconds of simulated time, in real time.
    pub fn scaled(&self, ms: u64) -> Duration {
        // Rounded to whole nanoseconds, so 25_000 ms at 0.001 is exactly 25 ms; the `as` cast
        // saturates instead of panicking on absurd values.
        let nanos = (ms as f64 * 1_000_000.0 * self.time_scale).round();
        Duration::from_nanos(nanos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_use_the_documented_json() {
        let cases = [
            (Fault::Http5xx, r#""http_5xx""#),
            (Fault::Hang, r#""hang""#),
            (Fault::Drop, r#""drop""#),
            (
                Fault::RpcError(RpcErrorKind::ReplacementUnderpriced),
                r#"{"rpc_error":"replacement_underpriced"}"#,
            ),
        ];
        for (fault, json) in cases {
            assert_eq!(
                serde_json::to_string(&fault).unwrap_or_else(|e| panic!("{e}")),
                json
            );
            let parsed: Fault = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parsed, fault);
        }
    }

    #[test]
    fn rpc_error_names_are_their_json_names() {
        for kind in RpcErrorKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap_or_else(|e| panic!("{e}")),
                kind.name()
            );
        }
    }

    #[test]
    fn an_empty_json_config_is_the_transparent_default() {
        let parsed: ProxyConfig = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, ProxyConfig::default());
        assert_eq!(parsed.validate(), Ok(()));
    }

    #[test]
    fn unknown_fields_are_refused_so_typos_do_not_silently_do_nothing() {
        let parsed = serde_json::from_str::<ProxyConfig>(r#"{"drop_probabilty": 0.5}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn challenge_answers_95_percent_normally_and_is_valid() {
        let challenge = ProxyConfig::challenge();
        assert_eq!(challenge.validate(), Ok(()));
        let failures = challenge.http_5xx_probability
            + challenge.rpc_error_probability
            + challenge.hang_probability
            + challenge.drop_probability;
        assert!((failures - 0.04).abs() < 1e-12);
        assert!((challenge.slow_probability - 0.01).abs() < 1e-12);
        assert!(challenge.slow_latency_ms[0] > 30_000);
        assert_eq!(challenge.rpc_errors, RpcErrorKind::ALL.to_vec());
        assert_eq!(challenge.clone().with_time_scale(0.001).time_scale, 0.001);
    }

    #[test]
    fn invalid_configs_are_refused_with_the_reason() {
        let cases = [
            (
                ProxyConfig {
                    time_scale: -1.0,
                    ..ProxyConfig::default()
                },
                ConfigError::TimeScale(-1.0),
            ),
            (
                ProxyConfig {
                    drop_probability: 1.5,
                    ..ProxyConfig::default()
                },
                ConfigError::Probability {
                    field: "drop_probability",
                    value: 1.5,
                },
            ),
            (
                ProxyConfig {
                    drop_probability: 0.6,
                    hang_probability: 0.6,
                    ..ProxyConfig::default()
                },
                ConfigError::ProbabilitiesOverOne { total: 1.2 },
            ),
            (
                ProxyConfig {
                    latency_ms: [30, 20],
                    ..ProxyConfig::default()
                },
                ConfigError::Range {
                    field: "latency_ms",
                    min: 30,
                    max: 20,
                },
            ),
            (
                ProxyConfig {
                    rpc_error_probability: 0.1,
                    rpc_errors: Vec::new(),
                    ..ProxyConfig::default()
                },
                ConfigError::NoRpcErrorKinds,
            ),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
        let nan = ProxyConfig {
            slow_probability: f64::NAN,
            ..ProxyConfig::default()
        };
        assert!(matches!(
            nan.validate(),
            Err(ConfigError::Probability { .. })
        ));
    }

    #[test]
    fn probabilities_that_add_up_to_one_through_rounding_are_accepted() {
        let config = ProxyConfig {
            http_5xx_probability: 0.7,
            rpc_error_probability: 0.2,
            drop_probability: 0.1,
            ..ProxyConfig::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn the_methods_filter_matches_a_batch_if_any_call_matches() {
        let config = ProxyConfig {
            methods: Some(vec!["eth_sendRawTransaction".to_owned()]),
            ..ProxyConfig::default()
        };
        assert!(!config.applies_to(["eth_chainId"].into_iter()));
        assert!(config.applies_to(["eth_chainId", "eth_sendRawTransaction"].into_iter()));
        assert!(ProxyConfig::default().applies_to(["eth_chainId"].into_iter()));
    }

    #[test]
    fn time_scale_multiplies_delays() {
        let config = ProxyConfig::default().with_time_scale(0.001);
        assert_eq!(config.scaled(25_000), Duration::from_millis(25));
    }
}
