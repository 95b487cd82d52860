//! AWS SDK configuration shared by every client.
//!
//! The emulator (LocalStack, MiniStack) is reached only through the standard
//! `AWS_ENDPOINT_URL` variable, which `aws-config` reads itself.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

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

pub async fn load_config(timeouts: AwsTimeouts) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeouts.connect)
                .operation_attempt_timeout(timeouts.attempt)
                .operation_timeout(timeouts.operation)
                .build(),
        )
        .load()
        .await
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
