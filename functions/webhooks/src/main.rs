use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::batch::Deadline;
use tx_shared::config::Env;
use webhooks::{AwsWebhooks, Config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let webhooks = AwsWebhooks::from_aws(&config, &AwsClients::new(&sdk));
    let webhooks = &webhooks;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::of_invocation(event.context.deadline);
        webhooks
            .handle(event.payload, deadline)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
