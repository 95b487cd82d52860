use std::sync::Arc;

use api::{AwsApp, Config};
use tx_shared::aws::{AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let app = Arc::new(AwsApp::from_aws(&config, &sdk));
    lambda_http::run(api::router(app)).await
}
