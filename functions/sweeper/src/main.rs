use lambda_runtime::{LambdaEvent, service_fn};
use sweeper::{AwsSweeper, Config};
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::config::Env;

/// Invoked by an EventBridge schedule; the event's content does not matter.
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let sweeper = AwsSweeper::from_aws(&config, &AwsClients::new(&sdk));
    let sweeper = &sweeper;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let report = sweeper.sweep().await?;
            Ok::<_, lambda_runtime::Error>(report)
        },
    ))
    .await
}
