use std::sync::Arc;

use api::{AwsApp, Config, gateway_caller};
use lambda_http::RequestExt;
use lambda_http::tower::ServiceExt;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let app = Arc::new(AwsApp::from_aws(&config, &AwsClients::new(&sdk))?);
    // API Gateway authenticated the caller; its request context says who it is.
    let router = api::router(app).map_request(|mut request: lambda_http::Request| {
        if let Some(caller) = request.request_context_ref().and_then(gateway_caller) {
            request.extensions_mut().insert(caller);
        }
        request
    });
    lambda_http::run(router).await
}
