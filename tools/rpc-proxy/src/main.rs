//! `rpc-proxy`: serves the fault-injecting proxy in front of a node until Ctrl-C.
//! See `rpc-proxy --help` and the library's documentation.

use std::error::Error as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use rpc_proxy::{ProxyConfig, ProxyError, RpcErrorKind};
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
rpc-proxy: a slow, flaky JSON-RPC node in front of a real one.

USAGE: rpc-proxy [FLAGS]

  --upstream URL               node to forward to (default http://127.0.0.1:8545)
  --listen ADDR                where to listen (default 127.0.0.1:8546)
  --preset challenge|none      start from a preset (default none: a transparent proxy)
  --config FILE                start from a JSON config instead of a preset
  --time-scale F               multiply every delay by F (0.001: seconds become milliseconds)
  --latency-ms MIN,MAX         normal latency
  --slow-probability P         share of slow answers
  --slow-latency-ms MIN,MAX    latency of slow answers
  --http-5xx-probability P     share answered HTTP 502/503
  --rpc-error-probability P    share answered with a JSON-RPC error
  --rpc-errors KIND,...        nonce_too_low, already_known, replacement_underpriced,
                               insufficient_funds, internal (default: all)
  --hang-probability P         share held for --hang-ms, then closed without an answer
  --hang-ms MS                 how long a hang holds the connection
  --drop-probability P         share closed without an answer at once
  --methods METHOD,...         apply latency and faults only to these JSON-RPC methods
  --seed N                     reproducible random rolls
  --forward-before-latency     forward first, then delay the answer
  -h, --help                   this text

Flags override the preset or config file field by field. Admin routes on the same port:
GET/PUT /_proxy/config, POST /_proxy/fail-next, GET /_proxy/stats, POST /_proxy/reset-stats.
";

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("unknown flag {0:?} (see --help)")]
    UnknownFlag(String),
    #[error("{0} needs a value")]
    MissingValue(String),
    #[error("{flag}: {value:?} is not {expected}")]
    InvalidValue {
        flag: String,
        value: String,
        expected: &'static str,
    },
    #[error("unknown preset {0:?}: use challenge or none")]
    UnknownPreset(String),
    #[error("--config and --preset cannot be used together")]
    ConfigAndPreset,
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

type Override = Box<dyn FnOnce(&mut ProxyConfig)>;

struct Cli {
    upstream: String,
    listen: SocketAddr,
    preset: Option<Preset>,
    config_file: Option<PathBuf>,
    overrides: Vec<Override>,
}

#[derive(Clone, Copy)]
enum Preset {
    Challenge,
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

enum Parsed {
    Run(Cli),
    Help,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_target(false)
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rpc-proxy: {}", with_causes(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), CliError> {
    let cli = match parse_args(std::env::args().skip(1))? {
        Parsed::Help => {
            print!("{USAGE}");
            return Ok(());
        }
        Parsed::Run(cli) => cli,
    };
    let mut config = match (&cli.config_file, cli.preset) {
        (Some(_), Some(_)) => return Err(CliError::ConfigAndPreset),
        (Some(path), None) => read_config(path)?,
        (None, Some(preset)) => preset.config(),
        (None, None) => ProxyConfig::default(),
    };
    for apply in cli.overrides {
        apply(&mut config);
    }
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

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, CliError> {
    let mut cli = Cli {
        upstream: "http://127.0.0.1:8545".to_owned(),
        listen: SocketAddr::from(([127, 0, 0, 1], 8546)),
        preset: None,
        config_file: None,
        overrides: Vec::new(),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accepts both `--flag value` and `--flag=value`.
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if matches!(flag.as_str(), "-h" | "--help") {
            return Ok(Parsed::Help);
        }
        if flag == "--forward-before-latency" {
            cli.overrides.push(Box::new(|c: &mut ProxyConfig| {
                c.forward_before_latency = true
            }));
            continue;
        }
        let value = match inline_value.or_else(|| args.next()) {
            Some(value) => value,
            None if is_known_flag(&flag) => return Err(CliError::MissingValue(flag)),
            None => return Err(CliError::UnknownFlag(flag)),
        };
        let overrides = &mut cli.overrides;
        match flag.as_str() {
            "--upstream" => cli.upstream = value,
            "--listen" => cli.listen = parse_value(&flag, &value, "a socket address")?,
            "--preset" => {
                cli.preset = match value.as_str() {
                    "challenge" => Some(Preset::Challenge),
                    "none" => Some(Preset::None),
                    _ => return Err(CliError::UnknownPreset(value)),
                }
            }
            "--config" => cli.config_file = Some(PathBuf::from(value)),
            "--time-scale" => {
                let scale: f64 = parse_value(&flag, &value, "a number")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.time_scale = scale));
            }
            "--latency-ms" => {
                let range = parse_range(&flag, &value)?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.latency_ms = range));
            }
            "--slow-latency-ms" => {
                let range = parse_range(&flag, &value)?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| {
                    c.slow_latency_ms = range
                }));
            }
            "--slow-probability" => {
                let p = parse_value(&flag, &value, "a probability")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.slow_probability = p));
            }
            "--http-5xx-probability" => {
                let p = parse_value(&flag, &value, "a probability")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| {
                    c.http_5xx_probability = p
                }));
            }
            "--rpc-error-probability" => {
                let p = parse_value(&flag, &value, "a probability")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| {
                    c.rpc_error_probability = p
                }));
            }
            "--hang-probability" => {
                let p = parse_value(&flag, &value, "a probability")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.hang_probability = p));
            }
            "--drop-probability" => {
                let p = parse_value(&flag, &value, "a probability")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.drop_probability = p));
            }
            "--hang-ms" => {
                let ms = parse_value(&flag, &value, "milliseconds")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.hang_ms = ms));
            }
            "--seed" => {
                let seed = parse_value(&flag, &value, "an unsigned integer")?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.seed = Some(seed)));
            }
            "--rpc-errors" => {
                let kinds = value
                    .split(',')
                    .map(|kind| {
                        serde_json::from_value::<RpcErrorKind>(serde_json::Value::String(
                            kind.trim().to_owned(),
                        ))
                        .map_err(|_| CliError::InvalidValue {
                            flag: flag.clone(),
                            value: kind.to_owned(),
                            expected: "an RPC error kind (see --help)",
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                overrides.push(Box::new(move |c: &mut ProxyConfig| c.rpc_errors = kinds));
            }
            "--methods" => {
                let methods: Vec<String> = value.split(',').map(|m| m.trim().to_owned()).collect();
                overrides.push(Box::new(move |c: &mut ProxyConfig| {
                    c.methods = Some(methods)
                }));
            }
            _ => return Err(CliError::UnknownFlag(flag)),
        }
    }
    Ok(Parsed::Run(cli))
}

fn is_known_flag(flag: &str) -> bool {
    USAGE
        .split_whitespace()
        .any(|word| word == flag && flag.starts_with("--"))
}

fn parse_value<T: FromStr>(flag: &str, value: &str, expected: &'static str) -> Result<T, CliError> {
    value.trim().parse().map_err(|_| CliError::InvalidValue {
        flag: flag.to_owned(),
        value: value.to_owned(),
        expected,
    })
}

fn parse_range(flag: &str, value: &str) -> Result<[u64; 2], CliError> {
    let invalid = || CliError::InvalidValue {
        flag: flag.to_owned(),
        value: value.to_owned(),
        expected: "MIN,MAX milliseconds",
    };
    let (min, max) = value.split_once(',').ok_or_else(invalid)?;
    Ok([
        min.trim().parse().map_err(|_| invalid())?,
        max.trim().parse().map_err(|_| invalid())?,
    ])
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

    fn parse(args: &[&str]) -> Result<Parsed, CliError> {
        parse_args(args.iter().map(|a| (*a).to_owned()))
    }

    fn config_from(args: &[&str]) -> ProxyConfig {
        let Ok(Parsed::Run(cli)) = parse(args) else {
            panic!("{args:?} did not parse");
        };
        let mut config = cli.preset.map(Preset::config).unwrap_or_default();
        for apply in cli.overrides {
            apply(&mut config);
        }
        config
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
        let Ok(Parsed::Run(defaults)) = parse(&[]) else {
            panic!("no flags did not parse");
        };
        assert_eq!(defaults.upstream, "http://127.0.0.1:8545");
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:8546");
        let Ok(Parsed::Run(set)) = parse(&[
            "--upstream",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
        ]) else {
            panic!("flags did not parse");
        };
        assert_eq!(set.upstream, "http://127.0.0.1:9");
        assert_eq!(set.listen.port(), 0);
    }

    #[test]
    fn bad_flags_name_the_problem() {
        assert!(matches!(
            parse(&["--nope", "1"]),
            Err(CliError::UnknownFlag(_))
        ));
        assert!(matches!(parse(&["--seed"]), Err(CliError::MissingValue(_))));
        assert!(matches!(
            parse(&["--latency-ms", "5"]),
            Err(CliError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse(&["--rpc-errors", "nonce_too_high"]),
            Err(CliError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse(&["--preset", "chaos"]),
            Err(CliError::UnknownPreset(_))
        ));
        assert!(matches!(parse(&["--help"]), Ok(Parsed::Help)));
    }
}
