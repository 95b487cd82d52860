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

/// Counts the HTTP requests every AWS client makes, by service and operation: what AWS bills.
/// Installed once per process (by benchmarks) before clients are built; clients built by the
/// functions below carry it.
#[derive(Debug, Default)]
pub struct RequestCounter {
    counts: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>,
}

static REQUEST_COUNTER: std::sync::OnceLock<std::sync::Arc<RequestCounter>> =
    std::sync::OnceLock::new();

impl RequestCounter {
    /// Installs the process's counter (once) and returns it.
    pub fn install() -> std::sync::Arc<RequestCounter> {
        REQUEST_COUNTER.get_or_init(Default::default).clone()
    }

    /// `(service, operation) → requests` so far.
    pub fn snapshot(&self) -> std::collections::BTreeMap<(String, String), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.clear();
        }
    }
}

/// The interceptor that feeds a [`RequestCounter`].
#[derive(Debug, Clone)]
struct Counting(std::sync::Arc<RequestCounter>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for Counting {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    // Once per HTTP attempt, retries included.
    fn read_before_transmit(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(metadata) = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>()
            && let Ok(mut counts) = self.0.counts.lock()
        {
            *counts
                .entry((metadata.service().to_owned(), metadata.name().to_owned()))
                .or_default() += 1;
        }
        Ok(())
    }
}

macro_rules! client_with_counter {
    ($name:ident, $sdk:ident) => {
        /// A client built from the shared configuration, counted when a [`RequestCounter`] is installed.
        pub fn $name(sdk: &SdkConfig) -> $sdk::Client {
            let mut builder = $sdk::config::Builder::from(sdk);
            if let Some(counter) = REQUEST_COUNTER.get() {
                builder = builder.interceptor(Counting(counter.clone()));
            }
            $sdk::Client::from_conf(builder.build())
        }
    };
}

client_with_counter!(dynamodb, aws_sdk_dynamodb);
client_with_counter!(sqs, aws_sdk_sqs);
client_with_counter!(sns, aws_sdk_sns);
client_with_counter!(kms, aws_sdk_kms);
