//! Request counts by `(service, operation)`.
//!
//! The functions are handed clients that count every HTTP attempt into an [`OpCounter`]
//! ([`counted_clients`], through `devstack`'s hooks). What the local runtime does in Lambda's
//! place is kept apart: the queue pollers and the stream reader use clients of their own that
//! no counter sees, and the notifier's reads go to a counter of their own, so each part of
//! the bill can be told from the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tx_shared::aws::AwsClients;

/// `(service, operation) → HTTP requests`.
pub type Counts = BTreeMap<(String, String), u64>;

/// Adds `b` into `a`.
pub fn add(a: &mut Counts, b: &Counts) {
    for (key, n) in b {
        *a.entry(key.clone()).or_default() += n;
    }
}

/// Requests of one service.
pub fn service_total(counts: &Counts, service: &str) -> u64 {
    counts
        .iter()
        .filter(|((s, _), _)| s == service)
        .map(|(_, n)| n)
        .sum()
}

/// A counter of its own, for clients the benchmark builds itself.
#[derive(Debug, Default)]
pub struct OpCounter {
    counts: Mutex<Counts>,
}

impl OpCounter {
    pub fn snapshot(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.clear();
        }
    }
}

#[derive(Debug, Clone)]
struct CountInto(Arc<OpCounter>);

impl Intercept for CountInto {
    fn name(&self) -> &'static str {
        "BenchOpCounter"
    }

    // Once per HTTP attempt, retries included: what AWS bills.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>()
            && let Ok(mut counts) = self.0.counts.lock()
        {
            *counts
                .entry((metadata.service().to_owned(), metadata.name().to_owned()))
                .or_default() += 1;
        }
        Ok(())
    }
}

/// The functions' clients, every request counted by `counter`.
pub fn counted_clients(sdk: &SdkConfig, counter: &Arc<OpCounter>) -> AwsClients {
    let count = || CountInto(counter.clone());
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(count())
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk)
                .interceptor(count())
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(sdk)
                .interceptor(count())
                .build(),
        ),
        kms: aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::config::Builder::from(sdk)
                .interceptor(count())
                .build(),
        ),
    }
}
