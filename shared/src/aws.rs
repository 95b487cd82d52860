//! AWS SDK configuration shared by every client.
//!
//! The emulator (LocalStack, MiniStack) is reached only through the standard
//! `AWS_ENDPOINT_URL` variable.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;

/// Explicit SDK timeouts: no AWS call may hang a handler.
#[derive(Debug, Clone, Copy)]
pub struct AwsTimeouts {
    pub connect: Duration,
    /// One HTTP attempt.
    pub attempt: Duration,
    /// The whole operation, retries included.
    pub operation: Duration,
}

impl AwsTimeouts {
    /// For handlers: short, so a stuck dependency fails the record instead of the invocation.
    pub const HANDLER: AwsTimeouts = AwsTimeouts {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(15),
    };

    /// For long-polling consumers (the local runner's `ReceiveMessage` waits).
    pub const LONG_POLL: AwsTimeouts = AwsTimeouts {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(25),
        operation: Duration::from_secs(30),
    };
}

/// The configuration every client is built from, read from the environment Lambda gives a
/// function: the region (`AWS_REGION`, else `AWS_DEFAULT_REGION`), the execution role's
/// credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and
/// `AWS_ENDPOINT_URL` when set (the emulator). Nothing else is looked up: `aws-config`'s
/// general discovery (profile files, SSO, IMDS, container credentials) finds nothing more on
/// Lambda and cost half a millisecond of every cold start. HTTP goes through
/// [`crate::sdk_http`].
///
/// Without a region the clients still build, and their first request fails saying so.
pub async fn load_config(timeouts: AwsTimeouts) -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
        .http_client(crate::sdk_http::client());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        builder = builder.region(Region::new(region));
    }
    if let Some(endpoint) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// Renders an SDK error with its service code and message, not just "service error".
pub fn describe<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("ServiceError"),
                e.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) => format!("dispatch failure: {failure:?}"),
        other => format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(other)),
    }
}

/// The AWS clients the functions use, built once per container from one configuration.
///
/// Functions take them ready-made (`from_aws(&config, &clients)`), so whoever runs them
/// decides how they are built: Lambda from its environment, a tool that watches what the
/// functions send (the benchmark counts requests) with interceptors of its own.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub kms: aws_sdk_kms::Client,
    /// Where a chain's node URLs are kept (`nodes_secret`), read once at start-up.
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    pub fn new(sdk: &SdkConfig) -> Self {
        AwsClients {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            kms: aws_sdk_kms::Client::new(sdk),
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }
}
