use lambda_runtime::{LambdaEvent, service_fn};
use notifier::{AwsNotifier, Config};
use serde_json::Value;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let notifier = AwsNotifier::from_aws(&config, &AwsClients::new(&sdk), &sdk)?;
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        notifier
            .handle(event.payload)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
