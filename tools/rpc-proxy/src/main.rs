//! `rpc-proxy`: serves the fault-injecting proxy in front of a node until Ctrl-C.
//! See `rpc-proxy --help` and the library's documentation.

use std::error::Error as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rpc_proxy::{ProxyConfig, ProxyError, RpcErrorKind};
use tracing_subscriber::EnvFilter;

/// A slow, flaky JSON-RPC node in front of a real one.
#[derive(Debug, Parser)]
#[command(
    name = "rpc-proxy",
    after_help = "Flags override the preset or config file field by field. Admin routes on the same port: \
GET/PUT /_proxy/config, POST /_proxy/fail-next, GET /_proxy/stats, POST /_proxy/reset-stats."
)]
struct Cli {
    /// Node to forward to.
    #[arg(long, default_value = "http://127.0.0.1:8545", value_name = "URL")]
    upstream: String,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8546", value_name = "ADDR")]
    listen: SocketAddr,
    /// Start from a preset (none: a transparent proxy).
    #[arg(long, value_enum, conflicts_with = "config_file")]
    preset: Option<Preset>,
    /// Start from a JSON config instead of a preset.
    #[arg(long = "config", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Multiply every delay by this (0.001: seconds become milliseconds).
    #[arg(long, value_name = "F")]
    time_scale: Option<f64>,
    /// Normal latency.
    #[arg(long, value_name = "MIN,MAX", value_parser = parse_range)]
    latency_ms: Option<[u64; 2]>,
    /// Share of slow answers.
    #[arg(long, value_name = "P")]
    slow_probability: Option<f64>,
    /// Latency of slow answers.
    #[arg(long, value_name = "MIN,MAX", value_parser = parse_range)]
    slow_latency_ms: Option<[u64; 2]>,
    /// Share answered HTTP 502/503.
    #[arg(long = "http-5xx-probability", value_name = "P")]
    http_5xx_probability: Option<f64>,
    /// Share answered with a JSON-RPC error.
    #[arg(long, value_name = "P")]
    rpc_error_probability: Option<f64>,
    /// Which JSON-RPC errors (nonce_too_low, already_known, replacement_underpriced,
    /// insufficient_funds, internal; default: all).
    #[arg(long, value_name = "KIND,...", value_delimiter = ',', value_parser = parse_kind)]
    rpc_errors: Option<Vec<RpcErrorKind>>,
    /// Share held for --hang-ms, then closed without an answer.
    #[arg(long, value_name = "P")]
    hang_probability: Option<f64>,
    /// How long a hang holds the connection.
    #[arg(long, value_name = "MS")]
    hang_ms: Option<u64>,
    /// Share closed without an answer at once.
    #[arg(long, value_name = "P")]
    drop_probability: Option<f64>,
    /// Apply latency and faults only to these JSON-RPC methods.
    #[arg(long, value_name = "METHOD,...", value_delimiter = ',')]
    methods: Option<Vec<String>>,
    /// Reproducible random rolls.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Forward first, then delay the answer.
    #[arg(long)]
    forward_before_latency: bool,
    /// Refuse a send at a new nonce of a sender with this many pending ("txpool is full").
    #[arg(long, value_name = "N")]
    max_pending_per_sender: Option<u32>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Preset {
    /// The challenge's node: slow, flaky, sometimes silent.
    Challenge,
    /// A transparent proxy.
    None,
}

impl Preset {
    fn config(self) -> ProxyConfig {
        match self {
            Preset::Challenge => ProxyConfig::challenge(),
            Preset::None => ProxyConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid proxy config")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("cannot listen for Ctrl-C")]
    Signal(#[source] std::io::Error),
}

impl Cli {
    /// The preset or config file, then every flag given over it, field by field.
    fn config(&self) -> Result<ProxyConfig, CliError> {
        let mut config = match (&self.config_file, self.preset) {
            (Some(path), _) => read_config(path)?,
            (None, Some(preset)) => preset.config(),
            (None, None) => ProxyConfig::default(),
        };
        let set = |field: &mut f64, value: Option<f64>| {
            if let Some(value) = value {
                *field = value;
            }
        };
        set(&mut config.time_scale, self.time_scale);
        set(&mut config.slow_probability, self.slow_probability);
        set(&mut config.http_5xx_probability, self.http_5xx_probability);
        set(
            &mut config.rpc_error_probability,
            self.rpc_error_probability,
        );
        set(&mut config.hang_probability, self.hang_probability);
        set(&mut config.drop_probability, self.drop_probability);
        if let Some(range) = self.latency_ms {
            config.latency_ms = range;
        }
        if let Some(range) = self.slow_latency_ms {
            config.slow_latency_ms = range;
        }
        if let Some(kinds) = &self.rpc_errors {
            config.rpc_errors = kinds.clone();
        }
        if let Some(ms) = self.hang_ms {
            config.hang_ms = ms;
        }
        if let Some(methods) = &self.methods {
            config.methods = Some(methods.clone());
        }
        if self.seed.is_some() {
            config.seed = self.seed;
        }
        if self.forward_before_latency {
            config.forward_before_latency = true;
        }
        if self.max_pending_per_sender.is_some() {
            config.max_pending_per_sender = self.max_pending_per_sender;
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_target(false)
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rpc-proxy: {}", with_causes(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let config = cli.config()?;
    let proxy = rpc_proxy::start(&cli.upstream, cli.listen, config).await?;
    println!(
        "rpc-proxy: {} -> {} (admin: {}/_proxy/config; Ctrl-C stops)",
        proxy.url(),
        cli.upstream,
        proxy.url()
    );
    let signal = tokio::signal::ctrl_c().await;
    proxy.shutdown().await;
    signal.map_err(CliError::Signal)
}

fn read_config(path: &PathBuf) -> Result<ProxyConfig, CliError> {
    let text = std::fs::read(path).map_err(|source| CliError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| CliError::ParseConfig {
        path: path.clone(),
        source,
    })
}

/// `MIN,MAX` milliseconds.
fn parse_range(value: &str) -> Result<[u64; 2], String> {
    let invalid = || format!("`{value}` is not MIN,MAX milliseconds");
    let (min, max) = value.split_once(',').ok_or_else(invalid)?;
    Ok([
        min.trim().parse().map_err(|_| invalid())?,
        max.trim().parse().map_err(|_| invalid())?,
    ])
}

/// An RPC error kind by its JSON name.
fn parse_kind(value: &str) -> Result<RpcErrorKind, String> {
    serde_json::from_value(serde_json::Value::String(value.trim().to_owned()))
        .map_err(|_| format!("`{value}` is not an RPC error kind (see --help)"))
}

/// The error and its sources on one line, so the cause (e.g. "address in use") is not lost.
fn with_causes(error: &CliError) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("rpc-proxy").chain(args.iter().copied()))
    }

    fn config_from(args: &[&str]) -> ProxyConfig {
        parse(args)
            .unwrap_or_else(|e| panic!("{args:?} did not parse: {e}"))
            .config()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn flags_override_the_preset_field_by_field() {
        let config = config_from(&[
            "--preset",
            "challenge",
            "--time-scale=0.001",
            "--drop-probability",
            "0",
            "--rpc-errors",
            "nonce_too_low,already_known",
            "--methods",
            "eth_sendRawTransaction",
            "--latency-ms",
            "5,10",
            "--seed",
            "9",
            "--forward-before-latency",
        ]);
        assert_eq!(config.time_scale, 0.001);
        assert_eq!(config.drop_probability, 0.0);
        assert_eq!(config.hang_probability, 0.01);
        assert_eq!(
            config.rpc_errors,
            [RpcErrorKind::NonceTooLow, RpcErrorKind::AlreadyKnown]
        );
        assert_eq!(
            config.methods,
            Some(vec!["eth_sendRawTransaction".to_owned()])
        );
        assert_eq!(config.latency_ms, [5, 10]);
        assert_eq!(config.seed, Some(9));
        assert!(config.forward_before_latency);
    }

    #[test]
    fn upstream_and_listen_have_defaults_and_can_be_set() {
        let defaults = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(defaults.upstream, "http://127.0.0.1:8545");
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:8546");
        let set = parse(&[
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.upstream, "http://127.0.0.1:9");
        assert_eq!(set.listen.port(), 0);
    }

    #[test]
    fn bad_flags_name_the_problem() {
        let kind = |args: &[&str]| parse(args).err().map(|e| e.kind());
        assert_eq!(kind(&["--nope", "1"]), Some(ErrorKind::UnknownArgument));
        assert_eq!(kind(&["--seed"]), Some(ErrorKind::InvalidValue));
        assert_eq!(
            kind(&["--latency-ms", "5"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            kind(&["--rpc-errors", "nonce_too_high"]),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(kind(&["--preset", "chaos"]), Some(ErrorKind::InvalidValue));
        assert_eq!(
            kind(&["--preset", "challenge", "--config", "x.json"]),
            Some(ErrorKind::ArgumentConflict)
        );
        assert_eq!(kind(&["--help"]), Some(ErrorKind::DisplayHelp));
    }
}
