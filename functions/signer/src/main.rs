use lambda_runtime::{LambdaEvent, service_fn};
use signer::{AwsSigner, Config};
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
    let signers = AwsSigner::for_each_chain(&config, &clients)?;
    let signers = &signers;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let deadline = Deadline::of_invocation(event.context.deadline);
        Ok::<_, lambda_runtime::Error>(signer::handle(signers, event.payload, deadline).await)
    }))
    .await
}
