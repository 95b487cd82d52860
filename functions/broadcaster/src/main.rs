use broadcaster::{AwsBroadcaster, Config};
use lambda_runtime::{LambdaEvent, service_fn};
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::batch::Deadline;
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let broadcasters = AwsBroadcaster::for_each_chain(&config, &AwsClients::new(&sdk))?;
    let broadcasters = &broadcasters;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let deadline = Deadline::of_invocation(event.context.deadline);
        Ok::<_, lambda_runtime::Error>(
            broadcaster::handle(broadcasters, event.payload, deadline).await,
        )
    }))
    .await
}
