use lambda_runtime::{LambdaEvent, service_fn};
use sweeper::{AwsSweeper, AwsWatchdog, Config, run_schedule};
use tx_shared::adapters::secrets::read_chain_nodes;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::config::Env;

/// Invoked by an EventBridge schedule; the event's content does not matter.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let mut config = Config::from_env(&Env::process())?;
    let clients = AwsClients::new(&load_config(AwsTimeouts::HANDLER).await);
    // Node URLs kept in Secrets Manager are read once, here.
    read_chain_nodes(&mut config.chains, &clients.secrets).await?;
    let sweeper = AwsSweeper::from_aws(&config, &clients);
    let watchdogs = AwsWatchdog::for_each_chain(&config, &clients)?;
    let (sweeper, watchdogs) = (&sweeper, &watchdogs);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            run_schedule(sweeper, watchdogs)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
