//! `devstack run`: provision, then serve the API and drive the consumers until Ctrl-C.
//! `devstack provision [--env-file PATH]`: provision only, and write the functions'
//! environment (for `cargo lambda watch --env-file`). `devstack --help` says so too.

use std::net::SocketAddr;
use std::time::Duration;

use alloy::primitives::Address;
use devstack::{
    DevError, Names, Provisioned, RunnerOptions, default_target, provision_chain, provision_lanes,
    start,
};
use tx_shared::aws::{AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tx_shared::telemetry::init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "devstack failed");
            eprintln!("devstack: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The local stack: provisions the AWS emulator and anvil, then runs tx-broadcaster on them.
/// Configured by the environment (AWS_ENDPOINT_URL, RPC_URL, API_PORT, API_KEYS, …; see the
/// README).
#[derive(clap::Parser)]
#[command(name = "devstack")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Provision, then serve the API and drive the consumers until Ctrl-C (the default).
    Run,
    /// Provision only.
    Provision {
        /// Also write every function's environment here (for `cargo lambda watch`).
        #[arg(long)]
        env_file: Option<std::path::PathBuf>,
    },
}

async fn run() -> Result<(), DevError> {
    let cli = <Cli as clap::Parser>::parse();
    let env = Env::process();
    let config_error = |e: tx_shared::config::ConfigError| DevError::Config(e.to_string());
    if env.raw("AWS_ENDPOINT_URL").is_none() {
        return Err(DevError::Config(
            "AWS_ENDPOINT_URL is not set: the local stack only talks to an emulator (e.g. http://127.0.0.1:4566)".into(),
        ));
    }
    let rpc_url: String = env
        .or_default("RPC_URL", "http://127.0.0.1:8545".to_owned())
        .map_err(config_error)?;
    let prefix: String = env
        .or_default("DEV_PREFIX", "tx-broadcaster".to_owned())
        .map_err(config_error)?;
    let target: Address = env
        .or_default("TARGET_CONTRACT", default_target())
        .map_err(config_error)?;
    let api_port: u16 = env.or_default("API_PORT", 3000).map_err(config_error)?;

    let backoff = env.backoff().map_err(config_error)?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    // Two lanes by default: `make dev` shows transactions spread over keys.
    let lanes: usize = env.or_default("LANES", 2).map_err(config_error)?;
    if !(1..=tx_shared::config::MAX_LANES).contains(&lanes) {
        return Err(DevError::Config(format!(
            "LANES must be 1 to {}, not {lanes}",
            tx_shared::config::MAX_LANES
        )));
    }
    let names = Names::new(prefix);
    let mut provisioned =
        provision_lanes(&sdk, &names, &rpc_url, target, backoff.max_attempts, lanes).await?;
    // More chains (`,`-separated node URLs, a chain each), with as many lanes as the first.
    for url in list(env.raw("MORE_CHAIN_URLS")) {
        let chain = provision_chain(&sdk, &names, &url, target, lanes).await?;
        provisioned.more_chains.push(chain);
    }
    tracing::info!(
        table = %provisioned.table_name,
        topic = %provisioned.topic_arn,
        kms_key_id = %provisioned.kms_key_id,
        signer_address = %provisioned.signer_address,
        chain_id = provisioned.chain_id,
        more_chains = provisioned.more_chains.len(),
        "provisioned"
    );

    match cli.command.unwrap_or(Command::Run) {
        Command::Provision { env_file } => {
            if let Some(path) = env_file {
                std::fs::write(&path, lambda_env(&provisioned))?;
                println!("wrote the functions' environment to {}", path.display());
            }
            Ok(())
        }
        Command::Run => {
            let defaults = RunnerOptions::default();
            let seconds = |name: &'static str, default: Duration| {
                env.or_default(name, default.as_secs())
                    .map(Duration::from_secs)
                    .map_err(config_error)
            };
            // Locally, anything well-formed may be signed unless you say otherwise; a
            // deployment must list what it signs (see the README).
            let policy = match env.raw("ALLOWED_MESSAGE_TYPES") {
                None => {
                    eprintln!(
                        "devstack: ALLOWED_MESSAGE_TYPES is not set: allowing EVERY message type (`*`). Fine for a laptop; production must list what it signs."
                    );
                    tx_shared::validation::MessageTypePolicy::allow_all()
                }
                Some(_) => env
                    .message_type_policy("ALLOWED_MESSAGE_TYPES")
                    .map_err(config_error)?,
            };
            // The fault proxy in front of the first chain's node, as its second node: faults
            // injected through its admin routes fail over to the first.
            let proxy = match env
                .optional::<u16>("DEV_PROXY_PORT")
                .map_err(config_error)?
            {
                None => None,
                Some(port) => Some(
                    rpc_proxy::start(
                        &rpc_url,
                        SocketAddr::from(([127, 0, 0, 1], port)),
                        rpc_proxy::ProxyConfig::default(),
                    )
                    .await
                    .map_err(|e| DevError::Config(format!("DEV_PROXY_PORT: {e}")))?,
                ),
            };
            let api_keys = match env.raw("API_KEYS") {
                Some(raw) => tx_shared::auth::ApiKeys::parse(raw)
                    .map_err(|e| DevError::Config(format!("API_KEYS: {e}")))?,
                None => defaults.api_keys.clone(),
            };
            let options = RunnerOptions {
                api_addr: SocketAddr::from(([127, 0, 0, 1], api_port)),
                emit_metrics: true,
                policy,
                api_keys,
                // The functions may talk to another node than the one provisioned, e.g. the
                // fault-injecting proxy in front of anvil.
                node_url: env.optional("NODE_URL").map_err(config_error)?,
                // More nodes of the chain (`,`-separated), and how many get each signed
                // transaction.
                more_node_urls: list(env.raw("MORE_NODE_URLS"))
                    .into_iter()
                    .chain(proxy.as_ref().map(|p| p.url()))
                    .collect(),
                send_to: env.or_default("RPC_SEND_TO", 1).map_err(config_error)?,
                rpc_timeout: Duration::from_millis(
                    env.or_default("RPC_TIMEOUT_MS", defaults.rpc_timeout.as_millis() as u64)
                        .map_err(config_error)?,
                ),
                backoff,
                sweep_interval: Some(seconds(
                    "SWEEP_INTERVAL_SECONDS",
                    devstack::DEFAULT_SWEEP_INTERVAL,
                )?),
                sweep_grace: seconds("SWEEP_GRACE_SECONDS", defaults.sweep_grace)?,
                admin_token: {
                    let token: String = env
                        .or_default("ADMIN_TOKEN", defaults.admin_token.clone())
                        .map_err(config_error)?;
                    // The operators' token opens every transaction: no shorter than a key.
                    if token.len() < tx_shared::auth::MIN_API_KEY_LEN {
                        return Err(DevError::Config(format!(
                            "ADMIN_TOKEN must be at least {} characters",
                            tx_shared::auth::MIN_API_KEY_LEN
                        )));
                    }
                    token
                },
                ..defaults
            };
            // A bad node list is told here, not found by a panic in the wiring.
            devstack::runner_nodes(&provisioned, &options)
                .map_err(|e| DevError::Config(format!("MORE_NODE_URLS/RPC_SEND_TO: {e}")))?;
            let mut running = start(&sdk, &provisioned, &options).await?;
            let keys: String = options
                .api_keys
                .entries()
                .map(|(name, key)| {
                    format!("\n  client API key: {key}  ({name}; send it as x-api-key)")
                })
                .collect();
            let more_chains: String = provisioned
                .more_chains
                .iter()
                .map(|c| {
                    format!(
                        "\n  chain {}:    {} (send \"chain\": {} in a request), lanes {}",
                        c.chain_id,
                        c.rpc_url,
                        c.chain_id,
                        c.signer_addresses.len()
                    )
                })
                .collect();
            let proxied = proxy
                .as_ref()
                .map(|p| {
                    format!(
                        "\n  fault proxy:    {} (its second node; admin: {}/_proxy/config)",
                        p.url(),
                        p.url()
                    )
                })
                .unwrap_or_default();
            println!(
                "\ntx-broadcaster is running\n  API:            {}\n  status page:    {}/\n  admin token:    {}{keys}\n  signer address: {}\n  target:         {}\n  chain id:       {} (the default; {} lanes){proxied}{more_chains}\nCtrl-C stops the runner; the emulator and the anvils keep running (make stop).\n",
                running.api_url(),
                running.api_url(),
                options.admin_token,
                provisioned.signer_address,
                provisioned.target_contract,
                provisioned.chain_id,
                provisioned.signer_addresses.len(),
            );
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping the runner"),
                _ = running.wait() => tracing::error!("a runner task stopped unexpectedly"),
            }
            running.shutdown().await;
            Ok(())
        }
    }
}

/// A `,`-separated list, blanks dropped.
fn list(raw: Option<&str>) -> Vec<String> {
    raw.map(|raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// Every variable any function reads, for `cargo lambda watch --env-file`.
fn lambda_env(p: &Provisioned) -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    [
        ("AWS_ENDPOINT_URL", endpoint),
        (
            "AWS_REGION",
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        ),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TABLE_NAME", p.table_name.clone()),
        ("WEBHOOK_TABLE_NAME", p.webhook_table_name.clone()),
        ("WEBHOOK_QUEUE_URL", p.webhook_queue_url.clone()),
        // `make watch` posts to a receiver on this machine, as `make dev` may.
        ("WEBHOOK_ALLOW_LOOPBACK", "true".into()),
        ("TOPIC_ARN", p.topic_arn.clone()),
        ("SIGN_QUEUE_URL", p.sign_queue_url.clone()),
        ("SIGN_PRIORITY_QUEUE_URL", p.sign_priority_queue_url.clone()),
        (
            "BROADCAST_PRIORITY_QUEUE_URL",
            p.broadcast_priority_queue_url.clone(),
        ),
        ("BROADCAST_QUEUE_URL", p.broadcast_queue_url.clone()),
        ("CHAINS", chains_declaration(p)),
        ("RECEIPT_POLL_SECONDS", "1".into()),
        // `cargo lambda watch` runs the functions as deployed: they refuse to start without it.
        (
            "ALLOWED_MESSAGE_TYPES",
            std::env::var("ALLOWED_MESSAGE_TYPES").unwrap_or_else(|_| "*".into()),
        ),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={v}\n"))
    .collect()
}

/// Every provisioned chain, as `CHAINS` declares it (the first is the default).
fn chains_declaration(p: &Provisioned) -> String {
    let chain = |id: u64, url: &str, keys: &[String], target: Address| {
        serde_json::json!({
            "id": id,
            "nodes": [{ "url": url }],
            "keys": keys,
            "target_contract": target.to_string(),
        })
    };
    let chains: Vec<serde_json::Value> = std::iter::once(chain(
        p.chain_id,
        &p.rpc_url,
        &p.kms_key_ids,
        p.target_contract,
    ))
    .chain(
        p.more_chains
            .iter()
            .map(|c| chain(c.chain_id, &c.rpc_url, &c.kms_key_ids, c.target_contract)),
    )
    .collect();
    serde_json::Value::Array(chains).to_string()
}
