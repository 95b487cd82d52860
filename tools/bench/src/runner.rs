//! The queue consumers of the local stack, timed.
//!
//! This is what `devstack::start` runs beside the API when it has pollers (Lambda's SQS event
//! source mappings, the dead-letter consumers, the stream-fed notifier, the sweeper's
//! schedule), with the same handlers and the same poll loop, plus a stopwatch around every
//! handler call: that duration is what Lambda bills. The pollers' own requests
//! (`ReceiveMessage`, `DeleteMessageBatch`) are what the event source mapping does on AWS, so
//! they are counted here, apart from the functions' requests.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use devstack::{FunctionConfigs, Polled, Provisioned};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tx_shared::adapters::dynamo::DynamoStore;
use tx_shared::aws::{AwsTimeouts, load_config};

use crate::BenchError;
use crate::metering::{OpCounter, dynamodb_counted_by};

/// Which function a queue feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Signer,
    Broadcaster,
    DeadLetter,
    Sweeper,
}

impl Function {
    pub const fn name(self) -> &'static str {
        match self {
            Function::Signer => "signer",
            Function::Broadcaster => "broadcaster",
            Function::DeadLetter => "dead-letter",
            Function::Sweeper => "sweeper",
        }
    }
}

/// What one function's invocations and its event source mapping did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Invocations {
    pub invocations: u64,
    pub records: u64,
    pub failed_records: u64,
    /// Sum of handler call durations: billed duration.
    pub handler_time: Duration,
    /// `ReceiveMessage` calls that returned messages.
    pub receives: u64,
    pub empty_receives: u64,
    pub delete_batches: u64,
    pub deleted: u64,
}

/// The consumers' meters, by function.
#[derive(Debug, Default)]
pub struct Meter {
    by_function: Mutex<BTreeMap<Function, Invocations>>,
}

impl Meter {
    fn update(&self, function: Function, change: impl FnOnce(&mut Invocations)) {
        if let Ok(mut map) = self.by_function.lock() {
            change(map.entry(function).or_default());
        }
    }

    pub fn snapshot(&self) -> BTreeMap<Function, Invocations> {
        self.by_function
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut map) = self.by_function.lock() {
            map.clear();
        }
    }
}

/// How the consumers run.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Concurrent pollers per main queue (like the event source mapping's concurrency).
    pub pollers_per_queue: usize,
    pub wait_time_seconds: i32,
    /// How often the sweeper runs; `None`: not at all (its cost is measured on its own).
    pub sweep_every: Option<Duration>,
}

/// Running consumers. Call [`Consumers::stop`].
pub struct Consumers {
    pub meter: Arc<Meter>,
    /// The notifier's reads (the stream-fed Lambda on AWS).
    pub notifier_requests: Arc<OpCounter>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Consumers {
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Starts the consumers of a provisioned stack whose API `devstack::start` already serves.
pub async fn start(
    sdk: &SdkConfig,
    provisioned: &Provisioned,
    configs: &FunctionConfigs,
    options: &ConsumerOptions,
) -> Result<Consumers, BenchError> {
    let node_error = |e: tx_shared::ports::NodeError| BenchError::Config(e.to_string());
    let signer = Arc::new(signer::AwsSigner::from_aws(&configs.signer, sdk).map_err(node_error)?);
    let broadcaster = Arc::new(
        broadcaster::AwsBroadcaster::from_aws(&configs.broadcaster, sdk).map_err(node_error)?,
    );
    let dead_letters = Arc::new(dead_letter::DeadLetters::from_aws(
        &configs.dead_letter,
        sdk,
    ));
    let sweeper = sweeper::AwsSweeper::from_aws(&configs.sweeper, sdk);
    let meter = Arc::new(Meter::default());
    let notifier_requests = Arc::new(OpCounter::default());
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();

    // Not counted as the functions' requests: this is the event source mapping's work.
    let long_poll = load_config(AwsTimeouts::LONG_POLL).await;
    let polling = aws_sdk_sqs::Client::new(&long_poll);
    let queue = |url: &str, function: Function| Queue {
        sqs: polling.clone(),
        url: url.to_owned(),
        wait_time_seconds: options.wait_time_seconds,
        function,
        meter: meter.clone(),
        stop: stopping.clone(),
    };
    let main_and_priority = [
        (&provisioned.sign_queue_url, options.pollers_per_queue),
        (&provisioned.sign_priority_queue_url, 1),
    ];
    for (url, pollers) in main_and_priority {
        for _ in 0..pollers {
            let signer = signer.clone();
            tasks.spawn(queue(url, Function::Signer).poll(move |event| {
                let signer = signer.clone();
                async move { signer.handle(event).await }
            }));
        }
    }
    let broadcast_queues = [
        (&provisioned.broadcast_queue_url, options.pollers_per_queue),
        (&provisioned.broadcast_priority_queue_url, 1),
    ];
    for (url, pollers) in broadcast_queues {
        for _ in 0..pollers {
            let broadcaster = broadcaster.clone();
            tasks.spawn(queue(url, Function::Broadcaster).poll(move |event| {
                let broadcaster = broadcaster.clone();
                async move { broadcaster.handle(event).await }
            }));
        }
    }
    for dlq in [&provisioned.sign_dlq_url, &provisioned.broadcast_dlq_url] {
        let dead_letters = dead_letters.clone();
        tasks.spawn(queue(dlq, Function::DeadLetter).poll(move |event| {
            let dead_letters = dead_letters.clone();
            async move { dead_letters.handle(event).await }
        }));
    }

    // The notifier, fed from the table's stream as on AWS; its reads are counted apart.
    tasks.spawn(devstack::live::follow_stream(
        aws_sdk_dynamodbstreams::Client::new(&long_poll),
        aws_sdk_dynamodb::Client::new(sdk),
        provisioned.table_name.clone(),
        notifier::Notifier {
            store: DynamoStore::new(
                dynamodb_counted_by(sdk, &notifier_requests),
                &provisioned.table_name,
            ),
            sink: devstack::live::Hub::new(String::new()),
        },
        stopping.clone(),
    ));

    if let Some(interval) = options.sweep_every {
        let mut stop_sweeping = stopping.clone();
        let meter = meter.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = stop_sweeping.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let started = Instant::now();
                let swept = sweeper.sweep().await;
                let took = started.elapsed();
                meter.update(Function::Sweeper, |m| {
                    m.invocations += 1;
                    m.handler_time += took;
                });
                if let Err(e) = swept {
                    tracing::warn!(error = %e, "sweep failed");
                }
            }
        });
    }
    Ok(Consumers {
        meter,
        notifier_requests,
        stop,
        tasks,
    })
}

/// One poller's queue.
struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    wait_time_seconds: i32,
    function: Function,
    meter: Arc<Meter>,
    stop: watch::Receiver<bool>,
}

impl Queue {
    /// Lambda's event source mapping, as `devstack` plays it, metered for this queue's function.
    async fn poll<H, Fut>(self, handler: H)
    where
        H: Fn(SqsEvent) -> Fut,
        Fut: Future<Output = SqsBatchResponse>,
    {
        let Queue {
            sqs,
            url,
            wait_time_seconds,
            function,
            meter,
            stop,
        } = self;
        let observe = move |polled: Polled| {
            meter.update(function, |m| match polled {
                Polled::Empty => m.empty_receives += 1,
                Polled::Handled {
                    records,
                    failed,
                    took,
                } => {
                    m.receives += 1;
                    m.invocations += 1;
                    m.records += records as u64;
                    m.failed_records += failed as u64;
                    m.handler_time += took;
                }
                Polled::DeleteSent { entries } => {
                    m.delete_batches += 1;
                    m.deleted += entries as u64;
                }
            })
        };
        devstack::poll_queue(sqs, url, wait_time_seconds, stop, handler, observe).await;
    }
}
