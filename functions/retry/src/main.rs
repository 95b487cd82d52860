//! The retry Lambda has two front doors: the admin HTTP route (through API Gateway, which
//! authenticates the caller) and direct invocation with `{"transaction_id": "..."}`.

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, RequestExt};
use lambda_runtime::{LambdaEvent, service_fn};
use retry::{AdminAuth, AwsRetrier, Config, DirectRetry, GatewayPrincipal, admin_router};
use serde_json::Value;
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let retrier = Arc::new(AwsRetrier::from_aws(&config, &AwsClients::new(&sdk)));
    let router = admin_router(retrier.clone(), AdminAuth::Gateway).map_request(
        |mut request: lambda_http::Request| {
            if let Some(principal) = request
                .request_context_ref()
                .and_then(retry::gateway_principal)
            {
                request.extensions_mut().insert(GatewayPrincipal(principal));
            }
            request
        },
    );
    let (retrier, router) = (&retrier, &router);
    // Each invocation's future is boxed: inline, the HTTP adapter's state machine inside the
    // runtime's is deeper than the compiler lays out by default (release builds).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        Box::pin(async move {
            let (payload, context) = event.into_parts();
            if let Ok(direct) = serde_json::from_value::<DirectRetry>(payload.clone()) {
                return Ok::<Value, lambda_runtime::Error>(
                    retrier
                        .retry_direct(direct, &context.invoked_function_arn)
                        .await,
                );
            }
            let request: LambdaRequest = serde_json::from_value(payload)?;
            let mut adapter = Adapter::from(router.clone());
            let response = adapter
                .ready()
                .await?
                .call(LambdaEvent::new(request, context))
                .await?;
            Ok(serde_json::to_value(response)?)
        })
    }))
    .await
}
