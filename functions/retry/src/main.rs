//! The retry Lambda has two front doors: the admin HTTP route (through API Gateway, which
//! authenticates the caller) and direct invocation with `{"transaction_id": "..."}`.

use std::sync::Arc;

use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::tower::{Service, ServiceExt};
use lambda_http::{Adapter, RequestExt};
use lambda_runtime::{LambdaEvent, service_fn};
use retry::{AdminAuth, AwsRetrier, Config, GatewayPrincipal, admin_router};
use serde_json::{Value, json};
use tx_shared::aws::{AwsTimeouts, load_config};
use tx_shared::config::Env;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tx_shared::telemetry::init();
    let config = Config::from_env(&Env::process())?;
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let retrier = Arc::new(AwsRetrier::from_aws(&config, &sdk)?);
    let router = admin_router(retrier.clone(), AdminAuth::Gateway);
    let retrier = &retrier;
    let router = &router;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (payload, context) = event.into_parts();
        if let Some(id) = payload.get("transaction_id").and_then(Value::as_str) {
            let principal = format!("direct invocation ({})", context.invoked_function_arn);
            let answer = match id.parse() {
                Err(e) => json!({ "error": { "code": "invalid_transaction_id", "message": format!("{e}") } }),
                Ok(id) => match retrier.retry(id, &principal).await {
                    Ok(done) => json!({ "transaction_id": done.id, "action": done.action.as_str(), "status": "retrying" }),
                    Err(e @ retry::RetryError::Unavailable(_)) => {
                        tracing::error!(error = %e, "retry failed");
                        json!({ "error": { "code": "service_unavailable", "message": "the retry could not be recorded; try again" } })
                    }
                    Err(e) => json!({ "error": { "code": "retry_refused", "message": tx_shared::redact::scrub(&e.to_string()) } }),
                },
            };
            return Ok::<Value, lambda_runtime::Error>(answer);
        }
        let request: LambdaRequest = serde_json::from_value(payload)?;
        let mut adapter = Adapter::from(router.clone().map_request(|mut request: lambda_http::Request| {
            let principal = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(context)) => context
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.iam.as_ref().and_then(|iam| iam.user_arn.clone()).or_else(|| {
                        // A readable name for the history: the user name, else the subject.
                        a.jwt.as_ref().and_then(|jwt| {
                            ["username", "cognito:username", "email", "sub"]
                                .iter()
                                .find_map(|claim| jwt.claims.get(*claim).cloned())
                        })
                    })),
                _ => None,
            };
            if let Some(principal) = principal {
                let principal = tx_shared::auth::operator_name(&principal);
                request.extensions_mut().insert(GatewayPrincipal(principal));
            }
            request
        }));
        let response = adapter.ready().await?.call(LambdaEvent::new(request, context)).await?;
        Ok(serde_json::to_value(response)?)
    }))
    .await
}
