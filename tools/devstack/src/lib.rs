//! The local stack: provisions the emulator and anvil, serves the API over TCP, and drives the
//! queue consumers the way Lambda's SQS event source mapping does — long-poll, batch, invoke
//! the very same handler, delete what succeeded, leave failures to the visibility timeout and
//! the redrive policy.

pub mod live;
pub mod provision;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use aws_config::SdkConfig;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tx_shared::auth::{ApiKeys, LocalAuth};
use tx_shared::aws::{AwsClients, AwsTimeouts, load_config};
use tx_shared::backoff::Backoff;
use tx_shared::batch::Deadline;
use tx_shared::by_chain::ByChain;
use tx_shared::config::{ChainDecl, ChainNodes, Chains, RpcNodes};
use tx_shared::validation::MessageTypePolicy;

pub use provision::{
    Names, Provisioned, ProvisionedChain, provision, provision_chain, provision_lanes,
};

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("provisioning failed: {0}")]
    Provision(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// How often `make dev` sweeps (on AWS: `sweep_schedule` in `infra/`, once a minute).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Deliveries of a webhook message locally: the webhook queue's `maxReceiveCount`, which
/// [`RunnerOptions::webhook_backoff`] must keep as its `max_attempts`.
pub const WEBHOOK_MAX_ATTEMPTS: u32 = 5;

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub api_addr: SocketAddr,
    /// Concurrent pollers per queue, like Lambda's concurrent invocations.
    pub pollers_per_queue: usize,
    /// `WaitTimeSeconds` of each `ReceiveMessage`.
    pub wait_time_seconds: i32,
    pub receipt_poll_seconds: u64,
    pub confirmations: u64,
    pub policy: MessageTypePolicy,
    /// The node the functions talk to, if not the one provisioned (e.g. a fault-injecting proxy).
    pub node_url: Option<String>,
    /// Signing keys (lanes) provisioned for the chain (provisioning reads it).
    pub lanes: usize,
    /// More nodes of the same chain, after that one (`node-2`, `node-3`, ...).
    pub more_node_urls: Vec<String>,
    /// How many nodes each signed transaction goes to at once.
    pub send_to: usize,
    pub rpc_timeout: Duration,
    pub signing_lease: Duration,
    /// Must match the redrive policy's `maxReceiveCount` given to provisioning.
    pub backoff: Backoff,
    /// How often the local runner calls the sweeper (on AWS: an EventBridge schedule);
    /// `None`: never.
    pub sweep_interval: Option<Duration>,
    pub sweep_grace: Duration,
    /// The bearer token of the admin routes (operators).
    pub admin_token: String,
    /// Print the pipeline's metrics (EMF lines, as the notifier publishes them on AWS) to
    /// stdout: `make dev` does; tests and the benchmark, whose output they would flood, don't.
    pub emit_metrics: bool,
    /// Clients' API keys, sent as `x-api-key` exactly as to API Gateway.
    pub api_keys: ApiKeys,
    /// What the signer may spend per transaction.
    pub caps: signer::SpendCaps,
    /// The consumers' invocation timeouts: each batch gets the deadline Lambda would give it.
    pub timeouts: FunctionTimeouts,
    /// Where webhooks may go: `make dev` takes this machine and public hosts; the tests take
    /// only this machine ([`tx_shared::webhooks::AddressPolicy::LOOPBACK_ONLY`]).
    pub webhook_policy: tx_shared::webhooks::AddressPolicy,
    /// Webhook retries: seconds apart locally; `max_attempts` is [`WEBHOOK_MAX_ATTEMPTS`].
    pub webhook_backoff: Backoff,
}

/// The consumers' Lambda timeouts (`function_timeouts` in `infra/main.tf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionTimeouts {
    pub signer: Duration,
    pub broadcaster: Duration,
    pub dead_letter: Duration,
    pub webhooks: Duration,
}

impl FunctionTimeouts {
    /// As `infra/main.tf` derives them from the node's timeout.
    pub fn for_node(rpc_timeout: Duration) -> Self {
        let calls = |n: u64| rpc_timeout * u32::try_from(n).unwrap_or(u32::MAX);
        FunctionTimeouts {
            signer: calls(signer::NODE_CALLS_PER_RECORD) + Duration::from_secs(15),
            broadcaster: calls(broadcaster::NODE_CALLS_PER_RECORD) + Duration::from_secs(15),
            dead_letter: Duration::from_secs(30),
            // Ten deliveries at once, each at most its timeout (10 s by default).
            webhooks: Duration::from_secs(60),
        }
    }
}

impl Default for FunctionTimeouts {
    fn default() -> Self {
        FunctionTimeouts::for_node(Duration::from_secs(45))
    }
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            api_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            pollers_per_queue: 4,
            wait_time_seconds: 5,
            receipt_poll_seconds: 1,
            confirmations: 1,
            policy: MessageTypePolicy::allow_all(),
            node_url: None,
            lanes: 1,
            more_node_urls: Vec::new(),
            send_to: 1,
            rpc_timeout: Duration::from_secs(45),
            signing_lease: Duration::from_secs(30),
            backoff: Backoff::default(),
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            sweep_grace: Duration::from_secs(60),
            admin_token: format!("{:032x}", rand::random::<u128>()),
            emit_metrics: false,
            api_keys: ApiKeys::generate_local(),
            caps: signer::SpendCaps::default(),
            timeouts: FunctionTimeouts::default(),
            webhook_policy: tx_shared::webhooks::AddressPolicy::LOCAL,
            webhook_backoff: Backoff {
                base: Duration::from_secs(1),
                factor: 2.0,
                cap: Duration::from_secs(30),
                max_attempts: WEBHOOK_MAX_ATTEMPTS,
            },
        }
    }
}

/// The five functions' configurations.
#[derive(Debug, Clone)]
pub struct FunctionConfigs {
    pub api: api::Config,
    pub signer: signer::Config,
    pub broadcaster: broadcaster::Config,
    pub dead_letter: dead_letter::Config,
    pub retry: retry::Config,
    pub sweeper: sweeper::Config,
    pub webhooks: webhooks::Config,
}

/// A running stack. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    updates: tokio::sync::broadcast::Sender<String>,
}

impl Running {
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// Every change the local WebSocket pushes (what `/ws` carries: `{"type": "transaction",
    /// "transaction": {…}}`), for a watcher in this process that must not load the emulator
    /// (the benchmark). A receiver that falls more than 1,024 messages behind is told it lagged.
    pub fn updates(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.updates.subscribe()
    }

    /// Stops the API and the pollers after their current batch.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }

    /// Waits until any task ends (which only happens on a fatal error) or shutdown.
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// The nodes the functions talk to: `node_url` (else the one provisioned), then
/// `more_node_urls`, `send_to` of them getting each signed transaction.
pub fn runner_nodes(
    p: &Provisioned,
    options: &RunnerOptions,
) -> Result<tx_shared::config::RpcNodes, String> {
    let first = options
        .node_url
        .clone()
        .unwrap_or_else(|| p.rpc_url.clone());
    tx_shared::config::RpcNodes::from_urls(
        std::iter::once(first).chain(options.more_node_urls.iter().cloned()),
        options.send_to,
    )
}

/// The chains served, as provisioned: the first (its nodes as [`runner_nodes`] says, its
/// keys, the runner's policy and caps), then every one of `more_chains` through its one node.
pub fn runner_chains(p: &Provisioned, options: &RunnerOptions) -> Result<Chains, String> {
    let chain = |id: u64, nodes: RpcNodes, keys: &[String], target: Address| ChainDecl {
        id,
        name: tx_shared::domain::chains::name(id),
        nodes: ChainNodes::Listed(nodes),
        keys: keys.to_vec(),
        target_contract: Some(target),
        target_overrides: Default::default(),
        policy: Some(options.policy.clone()),
        confirmations: options.confirmations,
        reprice_after_blocks: tx_shared::domain::chains::default_reprice_after_blocks(id),
        caps: options.caps,
        bump: broadcaster::FeePolicy {
            bump_percent: tx_shared::domain::fees::DEFAULT_BUMP_PERCENT,
            max_fee_per_gas: options.caps.max_fee_per_gas,
        },
    };
    let first = chain(
        p.chain_id,
        runner_nodes(p, options)?,
        &p.kms_key_ids,
        p.target_contract,
    );
    let more = p.more_chains.iter().map(|more| {
        chain(
            more.chain_id,
            RpcNodes::one(more.rpc_url.clone()),
            &more.kms_key_ids,
            more.target_contract,
        )
    });
    Chains::from_list(std::iter::once(first).chain(more).collect()).map_err(|e| e.to_string())
}

/// The functions' configurations, derived from what provisioning found.
pub fn function_configs(p: &Provisioned, options: &RunnerOptions) -> FunctionConfigs {
    let chains = runner_chains(p, options).unwrap_or_else(|e| panic!("the runner's chains: {e}"));
    FunctionConfigs {
        api: api::Config {
            table_name: p.table_name.clone(),
            topic_arn: p.topic_arn.clone(),
            chains: chains.clone(),
            signer_address: None,
            // The runner serves the page's WebSocket on its own port (`/ws`).
            websocket_url: None,
            // Locally, operators sign in with the admin token.
            sign_in: None,
            webhook_queue_url: Some(p.webhook_queue_url.clone()),
            webhook_table_name: p.webhook_table_name.clone(),
            webhook_policy: options.webhook_policy,
        },
        signer: signer::Config {
            table_name: p.table_name.clone(),
            sign_queue_url: p.sign_queue_url.clone(),
            sign_priority_queue_url: Some(p.sign_priority_queue_url.clone()),
            broadcast_queue_url: p.broadcast_queue_url.clone(),
            chains: chains.clone(),
            rpc_timeout: options.rpc_timeout,
            signing_lease: options.signing_lease,
            backoff: options.backoff,
        },
        broadcaster: broadcaster::Config {
            table_name: p.table_name.clone(),
            sign_priority_queue_url: p.sign_priority_queue_url.clone(),
            broadcast_queue_url: p.broadcast_queue_url.clone(),
            broadcast_priority_queue_url: Some(p.broadcast_priority_queue_url.clone()),
            chains: chains.clone(),
            rpc_timeout: options.rpc_timeout,
            receipt_poll: Duration::from_secs(options.receipt_poll_seconds),
            backoff: options.backoff,
        },
        dead_letter: dead_letter::Config {
            table_name: p.table_name.clone(),
        },
        retry: retry::Config {
            table_name: p.table_name.clone(),
            sign_priority_queue_url: p.sign_priority_queue_url.clone(),
            broadcast_priority_queue_url: p.broadcast_priority_queue_url.clone(),
        },
        sweeper: sweeper::Config {
            table_name: p.table_name.clone(),
            topic_arn: p.topic_arn.clone(),
            broadcast_queue_url: p.broadcast_queue_url.clone(),
            grace: options.sweep_grace,
            batch_limit: 500,
            chains,
            rpc_timeout: options.rpc_timeout,
        },
        webhooks: webhooks::Config {
            table_name: p.table_name.clone(),
            webhook_table_name: p.webhook_table_name.clone(),
            queue_url: p.webhook_queue_url.clone(),
            policy: options.webhook_policy,
            backoff: options.webhook_backoff,
            timeout: webhooks::DEFAULT_TIMEOUT,
        },
    }
}

/// Who a set of clients, a poller or a sweep works for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Api,
    Signer,
    Broadcaster,
    DeadLetter,
    Retry,
    Sweeper,
    Notifier,
    Webhooks,
}

impl Role {
    pub const fn name(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Signer => "signer",
            Role::Broadcaster => "broadcaster",
            Role::DeadLetter => "dead-letter",
            Role::Retry => "retry",
            Role::Sweeper => "sweeper",
            Role::Notifier => "notifier",
            Role::Webhooks => "webhooks",
        }
    }
}

/// What a caller attaches to the local runtime: the clients each function is given, and a
/// callback told of every poll and sweep. The benchmark counts requests and handler time
/// through these; `make dev` and the tests use [`Hooks::plain`].
#[derive(Clone)]
pub struct Hooks {
    pub clients: Arc<dyn Fn(Role) -> AwsClients + Send + Sync>,
    pub observe: Arc<dyn Fn(Role, Polled) + Send + Sync>,
}

impl Hooks {
    /// One set of clients from `sdk` for every function; nothing observed.
    pub fn plain(sdk: &SdkConfig) -> Hooks {
        let clients = AwsClients::new(sdk);
        Hooks {
            clients: Arc::new(move |_| clients.clone()),
            observe: Arc::new(|_, _| {}),
        }
    }
}

/// Starts the API, the queue pollers and the sweeper on an already provisioned stack.
pub async fn start(
    sdk: &SdkConfig,
    provisioned: &Provisioned,
    options: &RunnerOptions,
) -> Result<Running, DevError> {
    start_with(sdk, provisioned, options, Hooks::plain(sdk)).await
}

/// [`start`], with the functions' clients and an observer chosen by the caller. `sdk` builds
/// only what the runtime does in Lambda's place (long polls, the stream reader).
pub async fn start_with(
    sdk: &SdkConfig,
    provisioned: &Provisioned,
    options: &RunnerOptions,
    hooks: Hooks,
) -> Result<Running, DevError> {
    let configs = function_configs(provisioned, options);
    let config_error = |e: tx_shared::config::ConfigError| DevError::Config(e.to_string());
    let clients = |role| (hooks.clients)(role);
    let local_auth = LocalAuth {
        api_keys: options.api_keys.clone(),
        admin_token: options.admin_token.clone(),
    };
    let app = Arc::new(
        api::AwsApp::from_aws(&configs.api, &clients(Role::Api))
            .map_err(config_error)?
            .with_auth(api::Authenticator::Local(local_auth)),
    );
    let signer = Arc::new(
        signer::AwsSigner::for_each_chain(&configs.signer, &clients(Role::Signer))
            .map_err(config_error)?,
    );
    let broadcaster = Arc::new(
        broadcaster::AwsBroadcaster::for_each_chain(
            &configs.broadcaster,
            &clients(Role::Broadcaster),
        )
        .map_err(config_error)?,
    );
    let dead_letters = Arc::new(dead_letter::DeadLetters::from_aws(
        &configs.dead_letter,
        &clients(Role::DeadLetter),
    ));
    let sweeper = sweeper::AwsSweeper::from_aws(&configs.sweeper, &clients(Role::Sweeper));
    let watchdog = sweeper::AwsWatchdog::for_each_chain(&configs.sweeper, &clients(Role::Sweeper))
        .map_err(config_error)?;
    let retrier = Arc::new(retry::AwsRetrier::from_aws(
        &configs.retry,
        &clients(Role::Retry),
    ));
    let admin = retry::admin_router(
        retrier,
        retry::AdminAuth::BearerToken(options.admin_token.clone()),
    );
    let webhooks = Arc::new(webhooks::AwsWebhooks::from_aws(
        &configs.webhooks,
        &clients(Role::Webhooks),
    ));
    let hub = live::Hub::new(options.admin_token.clone());
    let live_routes = hub.routes();

    let listener = TcpListener::bind(options.api_addr).await?;
    let api_addr = listener.local_addr()?;
    let (shutdown, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();

    let mut api_stop = stop.clone();
    tasks.spawn(async move {
        let served = axum::serve(listener, api::router(app).merge(admin).merge(live_routes))
            .with_graceful_shutdown(async move {
                let _ = api_stop.wait_for(|stop| *stop).await;
            })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "API server stopped");
        }
    });

    // The runtime's own clients (Lambda's pollers, the stream reader): not the functions'.
    // Long polls outlive the handlers' short SDK timeouts.
    let long_poll = load_config(AwsTimeouts::LONG_POLL).await;
    let polling = aws_sdk_sqs::Client::new(&long_poll);
    let wait = options.wait_time_seconds;
    // Operators' retries have their own queues, read beside the main ones: never behind the
    // main queues' backlog. Dead letters are reviewed as they arrive.
    let extra = usize::from(options.pollers_per_queue > 0);
    let consumers = [
        (
            &provisioned.sign_queue_url,
            options.pollers_per_queue,
            Consumer::Signer(signer.clone()),
        ),
        (
            &provisioned.broadcast_queue_url,
            options.pollers_per_queue,
            Consumer::Broadcaster(broadcaster.clone()),
        ),
        (
            &provisioned.sign_priority_queue_url,
            extra,
            Consumer::Signer(signer),
        ),
        (
            &provisioned.broadcast_priority_queue_url,
            extra,
            Consumer::Broadcaster(broadcaster),
        ),
        (
            &provisioned.sign_dlq_url,
            extra,
            Consumer::DeadLetters(dead_letters.clone()),
        ),
        (
            &provisioned.broadcast_dlq_url,
            extra,
            Consumer::DeadLetters(dead_letters),
        ),
        // Webhooks: a queue of their own, never in the pipeline's way.
        (
            &provisioned.webhook_queue_url,
            options.pollers_per_queue,
            Consumer::Webhooks(webhooks.clone()),
        ),
    ];
    let timeouts = options.timeouts;
    for (queue_url, pollers, consumer) in consumers {
        for _ in 0..pollers {
            let consumer = consumer.clone();
            let role = consumer.role();
            let observe = hooks.observe.clone();
            tasks.spawn(poll_queue(
                polling.clone(),
                queue_url.clone(),
                wait,
                stop.clone(),
                move |event| {
                    let consumer = consumer.clone();
                    let timeouts = timeouts;
                    async move { consumer.handle(event, &timeouts).await }
                },
                move |polled| observe(role, polled),
            ));
        }
    }
    if options.pollers_per_queue > 0 {
        // Live updates: the emulator's stream, through the notifier, to the local hub.
        let webhook_batches = live::fan_out(webhooks, stop.clone(), &mut tasks);
        tasks.spawn(live::follow_stream(
            aws_sdk_dynamodbstreams::Client::new(&long_poll),
            aws_sdk_dynamodb::Client::new(sdk),
            provisioned.table_name.clone(),
            notifier::Notifier {
                store: tx_shared::adapters::dynamo::DynamoStore::new(
                    clients(Role::Notifier).dynamodb,
                    &provisioned.table_name,
                ),
                sink: hub.clone(),
            },
            options.emit_metrics,
            webhook_batches,
            stop.clone(),
        ));
    }
    if let Some(interval) = options
        .sweep_interval
        .filter(|_| options.pollers_per_queue > 0)
    {
        let mut sweep_stop = stop.clone();
        let observe = hooks.observe.clone();
        tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = sweep_stop.wait_for(|stop| *stop) => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                let started = std::time::Instant::now();
                let swept = sweeper::run_schedule(&sweeper, &watchdog).await;
                observe(
                    Role::Sweeper,
                    Polled::Swept {
                        took: started.elapsed(),
                    },
                );
                if let Err(e) = swept {
                    tracing::warn!(error = %e, "sweep failed; trying again next interval");
                }
            }
        });
    }
    Ok(Running {
        api_addr,
        shutdown,
        tasks,
        updates: hub.updates(),
    })
}

/// A queue consumer: the handler an event source mapping invokes.
#[derive(Clone)]
enum Consumer {
    Signer(Arc<ByChain<signer::AwsSigner>>),
    Broadcaster(Arc<ByChain<broadcaster::AwsBroadcaster>>),
    DeadLetters(Arc<dead_letter::DeadLetters<tx_shared::adapters::dynamo::DynamoStore>>),
    Webhooks(Arc<webhooks::AwsWebhooks>),
}

impl Consumer {
    /// One invocation, with the deadline Lambda would give it.
    async fn handle(&self, event: SqsEvent, timeouts: &FunctionTimeouts) -> SqsBatchResponse {
        match self {
            Consumer::Signer(signers) => {
                signer::handle(signers, event, Deadline::after(timeouts.signer)).await
            }
            Consumer::Broadcaster(broadcasters) => {
                broadcaster::handle(broadcasters, event, Deadline::after(timeouts.broadcaster))
                    .await
            }
            Consumer::DeadLetters(dead_letters) => {
                dead_letters
                    .handle(event, Deadline::after(timeouts.dead_letter))
                    .await
            }
            Consumer::Webhooks(webhooks) => {
                webhooks
                    .deliverer
                    .handle(event, Deadline::after(timeouts.webhooks), &webhooks.queue)
                    .await
            }
        }
    }

    fn role(&self) -> Role {
        match self {
            Consumer::Signer(_) => Role::Signer,
            Consumer::Broadcaster(_) => Role::Broadcaster,
            Consumer::DeadLetters(_) => Role::DeadLetter,
            Consumer::Webhooks(_) => Role::Webhooks,
        }
    }
}

/// What a poller did, for whoever counts it (the benchmark's meter).
#[derive(Debug, Clone, Copy)]
pub enum Polled {
    /// A receive that returned no message.
    Empty,
    /// A batch handed to the handler: its records, those the handler reported failed, and
    /// how long the handler took.
    Handled {
        records: usize,
        failed: usize,
        took: Duration,
    },
    /// A `DeleteMessageBatch` of this many entries was sent (whatever its outcome).
    DeleteSent { entries: usize },
    /// The sweeper ran (its schedule, on AWS), for this long.
    Swept { took: Duration },
}

/// One poller: what the Lambda SQS event source mapping does for one concurrent invocation.
/// Long-polls, hands each batch to `handler`, deletes what succeeded, and tells `observe`
/// what it did.
pub async fn poll_queue<H, Fut>(
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    wait_time_seconds: i32,
    mut stop: watch::Receiver<bool>,
    handler: H,
    observe: impl Fn(Polled),
) where
    H: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    let queue_arn = provision::queue_arn(&sqs, &queue_url)
        .await
        .unwrap_or_default();
    loop {
        if *stop.borrow() {
            return;
        }
        let received = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            received = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait_time_seconds)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send() => received,
        };
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue = %queue_url, error = %tx_shared::aws::describe(&e), "receive failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            observe(Polled::Empty);
            continue;
        }
        let receipts: HashMap<String, String> = messages
            .iter()
            .filter_map(|m| Some((m.message_id.clone()?, m.receipt_handle.clone()?)))
            .collect();
        let event = to_event(&messages, &queue_arn);
        let started = std::time::Instant::now();
        let response = handler(event).await;
        let took = started.elapsed();
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        observe(Polled::Handled {
            records: messages.len(),
            failed: failed.len(),
            took,
        });
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .iter()
            .filter(|(id, _)| !failed.contains(&id.as_str()))
            .enumerate()
            .filter_map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(receipt)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        let count = entries.len();
        // Failures stay in flight until their visibility timeout, then come back (redrive caps it).
        let deleted = sqs
            .delete_message_batch()
            .queue_url(&queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        observe(Polled::DeleteSent { entries: count });
        match deleted {
            Ok(out) if !out.failed.is_empty() => {
                tracing::warn!(queue = %queue_url, failed = out.failed.len(), "some deletes failed; those messages will be redelivered");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(queue = %queue_url, error = %tx_shared::aws::describe(&e), "delete failed; messages will be redelivered")
            }
        }
    }
}

/// The event Lambda would deliver for these messages.
pub fn to_event(messages: &[aws_sdk_sqs::types::Message], queue_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(queue_arn.to_owned());
            record
        })
        .collect();
    event
}

/// The default local target contract address (any address works; this one is recognisable).
pub fn default_target() -> Address {
    Address::repeat_byte(0x7a)
}
