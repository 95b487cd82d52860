use broadcaster::{AwsBroadcaster, Config};
use lambda_runtime::{LambdaEvent, service_fn};
use tx_shared::adapters::secrets::read_chain_nodes;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::batch::Deadline;
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let mut config = Config::from_env(&Env::process())?;
    let clients = AwsClients::new(&load_config(AwsTimeouts::HANDLER).await);
    // Node URLs kept in Secrets Manager are read once, here.
    read_chain_nodes(&mut config.chains, &clients.secrets).await?;
    let broadcasters = AwsBroadcaster::for_each_chain(&config, &clients)?;
    let broadcasters = &broadcasters;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let deadline = Deadline::of_invocation(event.context.deadline);
        Ok::<_, lambda_runtime::Error>(
            broadcaster::handle(broadcasters, event.payload, deadline).await,
        )
    }))
    .await
}
