//! The pipeline under load: requests per transaction, 1,000 transactions end to end, and 1,000
//! through the challenge's node (`docs/benchmarking.md`, §4 to §6). Each phase provisions its own
//! resources (so its own signer address and nonces) and runs them with `devstack::start_with`,
//! whose hooks hand every function clients that count their requests and tell of every poll and
//! handler call. The functions reach anvil through the fault-injecting proxy; completion is
//! watched through the store's reading port on a client no counter sees.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use devstack::{Hooks, Names, Polled, Role, RunnerOptions, Running};
use futures::StreamExt;
use rpc_proxy::{Fault, ProxyConfig, ProxyHandle, ProxyStats};
use tx_shared::adapters::dynamo::DynamoStore;
use tx_shared::aws::AwsClients;
use tx_shared::backoff::Backoff;
use tx_shared::domain::{Event, HistoryEntry, Status, Transaction, TxId};
use tx_shared::ports::Reading;

use crate::BenchError;
use crate::handlers::{ADD_WEIGHT, add_weight_data};

/// Who made a request: the functions, the stream-fed notifier, or the event source mappings.
pub const MADE_BY: [&str; 3] = ["functions", "notifier", "event source mapping"];

/// One function's invocations, as the local runtime made them in Lambda's place.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invoked {
    pub invocations: u64,
    pub records: u64,
    /// Sum of handler call durations: billed duration.
    pub handler_time: Duration,
}

/// What the meters saw over a window.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub transactions: u64,
    /// `(who, service, operation) → HTTP requests`, retries included, as AWS bills them.
    pub requests: BTreeMap<(&'static str, String, String), u64>,
    pub invoked: BTreeMap<Role, Invoked>,
}

impl Sample {
    /// Transactions, at least 1.
    pub fn tx(&self) -> f64 {
        self.transactions.max(1) as f64
    }

    /// Requests per transaction.
    pub fn requests_per_tx(&self) -> f64 {
        self.requests.values().sum::<u64>() as f64 / self.tx()
    }

    /// Billed handler-seconds per transaction.
    pub fn handler_seconds_per_tx(&self) -> f64 {
        let total: Duration = self.invoked.values().map(|i| i.handler_time).sum();
        total.as_secs_f64() / self.tx()
    }
}

/// Shared by the interceptors and the observer of one stack.
#[derive(Debug, Clone, Default)]
struct Meter(Arc<Mutex<Sample>>);

impl Meter {
    fn with<T>(&self, f: impl FnOnce(&mut Sample) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn count(&self, who: &'static str, service: &str, operation: &str) {
        let key = (who, service.to_owned(), operation.to_owned());
        self.with(|s| *s.requests.entry(key).or_default() += 1);
    }

    /// What was seen since the last `take`, for `transactions` transactions.
    fn take(&self, transactions: u64) -> Sample {
        let sample = self.with(std::mem::take);
        Sample {
            transactions,
            ..sample
        }
    }

    /// Clients whose every HTTP attempt is counted as made by `who`.
    fn clients(&self, sdk: &SdkConfig, who: &'static str) -> AwsClients {
        let count = || Counting(who, self.clone());
        macro_rules! counted {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(sdk)
                        .interceptor(count())
                        .build(),
                )
            };
        }
        AwsClients {
            dynamodb: counted!(aws_sdk_dynamodb),
            sqs: counted!(aws_sdk_sqs),
            sns: counted!(aws_sdk_sns),
            kms: counted!(aws_sdk_kms),
            secrets: counted!(aws_sdk_secretsmanager),
        }
    }

    fn hooks(&self, sdk: &SdkConfig) -> Hooks {
        let (functions, notifier) = (self.clients(sdk, MADE_BY[0]), self.clients(sdk, MADE_BY[1]));
        let meter = self.clone();
        Hooks {
            clients: Arc::new(move |role| match role {
                Role::Notifier => notifier.clone(),
                _ => functions.clone(),
            }),
            observe: Arc::new(move |role, polled| {
                let invoked = |took: Duration, records: usize| {
                    meter.with(|s| {
                        let i = s.invoked.entry(role).or_default();
                        i.invocations += 1;
                        i.records += records as u64;
                        i.handler_time += took;
                    })
                };
                // Empty long polls are a fixed cost per queue, not per transaction.
                match polled {
                    Polled::Empty => {}
                    Polled::Handled { records, took, .. } => {
                        meter.count(MADE_BY[2], "SQS", "ReceiveMessage");
                        invoked(took, records);
                    }
                    Polled::DeleteSent { .. } => {
                        meter.count(MADE_BY[2], "SQS", "DeleteMessageBatch")
                    }
                    Polled::Swept { took } => invoked(took, 0),
                }
            }),
        }
    }
}

#[derive(Debug)]
struct Counting(&'static str, Meter);

impl Intercept for Counting {
    fn name(&self) -> &'static str {
        "BenchRequestCounter"
    }

    // Once per HTTP attempt, retries included: what AWS bills.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.1.count(self.0, metadata.service(), metadata.name());
        }
        Ok(())
    }
}

/// How a phase runs the functions.
fn runner(pollers_per_queue: usize, rpc_timeout: Duration, backoff: Backoff) -> RunnerOptions {
    RunnerOptions {
        api_addr: ([127, 0, 0, 1], 0).into(),
        pollers_per_queue,
        wait_time_seconds: 5,
        // Off unless a phase asks for it: the sweeper is a schedule, not a per-transaction cost.
        sweep_interval: None,
        receipt_poll_seconds: 1,
        rpc_timeout,
        backoff,
        sweep_grace: Duration::from_secs(60),
        ..RunnerOptions::default()
    }
}

/// One phase's running stack.
struct Stack {
    running: Running,
    proxy: ProxyHandle,
    meter: Meter,
    /// The API's typed client (`clients/rust`), as the stack's first client.
    client: tx_broadcaster_client::Client,
    /// Uncounted: watching is not part of the bill.
    store: DynamoStore,
    table: String,
    /// After the run, measure what the emulator spends with the pipeline idle and on the
    /// harness's own watching ([`Run::emulator_share`] takes both out).
    measure_emulator: bool,
}

impl Stack {
    async fn start(
        sdk: &SdkConfig,
        anvil_url: &str,
        phase: &str,
        node: ProxyConfig,
        mut runner: RunnerOptions,
    ) -> Result<Stack, BenchError> {
        let unique = std::time::UNIX_EPOCH
            .elapsed()
            .map_or(0, |d| d.subsec_nanos());
        let names = Names::new(format!("b-{phase}-{:08x}", unique ^ std::process::id()));
        let target = devstack::default_target();
        let attempts = runner.backoff.max_attempts;
        let provisioned =
            devstack::provision_lanes(sdk, &names, anvil_url, target, attempts, runner.lanes)
                .await?;
        let proxy = rpc_proxy::start(anvil_url, ([127, 0, 0, 1], 0).into(), node).await?;
        runner.node_url = Some(proxy.url());
        let meter = Meter::default();
        let running = devstack::start_with(sdk, &provisioned, &runner, meter.hooks(sdk)).await?;
        let key = runner.api_keys.first_key().unwrap_or_default().to_owned();
        let http = tx_shared::tls::reqwest_builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()?;
        let client = tx_broadcaster_client::Client::new(
            http,
            &running.api_url(),
            tx_broadcaster_client::Credentials::ApiKey(key),
        );
        let table = provisioned.table_name;
        Ok(Stack {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &table),
            table,
            running,
            proxy,
            meter,
            client,
            measure_emulator: false,
        })
    }

    async fn stop(self) {
        self.running.shutdown().await;
        self.proxy.shutdown().await;
    }

    /// One `POST /transaction/broadcast`, timed from send to the whole answer read. Every POST
    /// carries an `Idempotency-Key`, as the README asks clients to.
    async fn post(&self, n: u64, key: String) -> Result<(Duration, TxId), BenchError> {
        let request = tx_broadcaster_client::BroadcastRequest::new(ADD_WEIGHT, add_weight_data(n));
        let started = Instant::now();
        let answer = self.client.broadcast(&request, Some(&key)).await;
        let took = started.elapsed();
        let accepted = answer.map_err(|e| BenchError::Failed(format!("POST answered {e}")))?;
        let id = accepted.transaction_id.parse().map_err(|e| {
            BenchError::Failed(format!("POST answered a transaction id that is none: {e}"))
        })?;
        Ok((took, id))
    }

    /// The emulator's CPU rate with the pipeline idle, over [`IDLE_WINDOW`].
    async fn emulator_idle(&self, cpu: EmulatorCpu) -> Option<f64> {
        let before = cpu.reading()?;
        tokio::time::sleep(IDLE_WINDOW).await;
        cpu.rate_since(before)
    }

    /// Waits until every one of `ids` is final as the pushed changes show them, or
    /// `deadline`. The table is asked only when the pushed changes may have missed some: once
    /// the watcher fell behind, every second from then on; otherwise after
    /// [`QUIET_FOR`] without news.
    async fn wait_watched(
        &self,
        watcher: &Watcher,
        ids: &[TxId],
        deadline: Instant,
    ) -> Result<(), BenchError> {
        let (mut finals, mut news_at, mut asked_at) = (0, Instant::now(), Instant::now());
        loop {
            let now_final = watcher.finals(ids);
            if now_final >= ids.len() || Instant::now() >= deadline {
                return Ok(());
            }
            if now_final > finals {
                (finals, news_at) = (now_final, Instant::now());
            }
            let lagged = watcher.lagged.load(std::sync::atomic::Ordering::Relaxed);
            let ask_every = if lagged {
                Duration::from_secs(1)
            } else {
                QUIET_FOR
            };
            if news_at.elapsed() >= ask_every && asked_at.elapsed() >= ask_every {
                asked_at = Instant::now();
                let (confirmed, failed) = self.wait_final(ids.len() as u64, Instant::now()).await?;
                if confirmed + failed >= ids.len() as u64 {
                    return Ok(());
                }
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    /// Waits until `expected` transactions are confirmed, reverted or in review, or `deadline`:
    /// `(confirmed, reverted or in review)`.
    async fn wait_final(&self, expected: u64, deadline: Instant) -> Result<(u64, u64), BenchError> {
        loop {
            let counts = self
                .store
                .count_by_status(u64::MAX, Default::default())
                .await?
                .counts;
            let of = |status: Status| counts.iter().find(|(s, _)| *s == status).map_or(0, |c| c.1);
            let done = (
                of(Status::Confirmed),
                of(Status::Reverted) + of(Status::NeedsReview),
            );
            if done.0 + done.1 >= expected || Instant::now() >= deadline {
                return Ok(done);
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }

    async fn get(&self, id: TxId) -> Result<Transaction, BenchError> {
        self.store
            .get(id)
            .await?
            .ok_or_else(|| BenchError::Failed(format!("transaction {id} is not stored")))
    }

    /// The `n`th transaction of a fresh stack, alone and counted: POST, wait until it is final
    /// and for the stragglers (the notifier's read, the last delete), take the sample.
    async fn counted_transaction(&self, n: u64) -> Result<(Sample, Transaction), BenchError> {
        self.meter.take(0);
        let (_, id) = self.post(n, format!("count-{n}")).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        self.wait_final(n, deadline).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sample = self.meter.take(1);
        let tx = self.get(id).await?;
        match tx.status {
            Status::Confirmed => Ok((sample, tx)),
            status => Err(BenchError::Failed(format!(
                "transaction {id} ended {status:?}"
            ))),
        }
    }
}

/// The counted single transactions.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    /// A warm transaction on the happy path.
    pub happy: Sample,
    /// A warm transaction whose first `eth_sendRawTransaction` got an HTTP 503.
    pub one_retry: Sample,
    pub retry_events: usize,
    /// Stored size of a confirmed transaction, by DynamoDB's rules.
    pub item_bytes: usize,
}

/// Phase 4: requests per transaction, on the happy path and with one retry.
pub async fn count_requests(sdk: &SdkConfig, anvil_url: &str) -> Result<RequestCounts, BenchError> {
    let backoff = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(4), 10)
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    let node = ProxyConfig {
        methods: Some(vec!["eth_sendRawTransaction".to_owned()]),
        ..ProxyConfig::default()
    };
    let runner = runner(1, Duration::from_secs(10), backoff);
    let stack = Stack::start(sdk, anvil_url, "count", node, runner).await?;
    let counted = async {
        // The first transaction warms the clients and seeds the nonce counter.
        stack.counted_transaction(1).await?;
        let (happy, tx) = stack.counted_transaction(2).await?;
        stack.proxy.fail_next(1, Fault::Http5xx);
        let (one_retry, retried) = stack.counted_transaction(3).await?;
        let item = aws_sdk_dynamodb::Client::new(sdk)
            .get_item()
            .table_name(&stack.table)
            .key("pk", AttributeValue::S(format!("TX#{}", tx.id)))
            .send()
            .await
            .map_err(|e| BenchError::Failed(format!("reading an item: {e:?}")))?;
        Ok(RequestCounts {
            happy,
            one_retry,
            retry_events: retries(&retried),
            item_bytes: item.item.as_ref().map_or(0, item_size),
        })
    }
    .await;
    stack.stop().await;
    counted
}

/// The `retry` entries in a transaction's history.
fn retries(tx: &Transaction) -> usize {
    let retry = |e: &&HistoryEntry| e.event == Event::Retry;
    tx.history.iter().filter(retry).count()
}

/// A run of many transactions.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub transactions: u64,
    pub concurrency: usize,
    /// Every POST's latency, as the client saw it.
    pub latencies: Vec<Duration>,
    pub first_error: Option<String>,
    pub confirmed: u64,
    /// Reverted or in review.
    pub failed: u64,
    pub timed_out: bool,
    /// First POST to the last transaction final.
    pub elapsed: Duration,
    pub sample: Sample,
    /// What the proxy did to the node calls.
    pub node: ProxyStats,
    /// `retry` entries in the histories, and the transactions with at least one.
    pub retries: (u64, u64),
    /// Every transaction has its own nonce, and each lane's run 0..n without gaps.
    pub nonces_gapless: bool,
    /// Lanes that took transactions.
    pub lanes_used: usize,
    /// The emulator's CPU-seconds per second over the run, where its process is on this
    /// machine ([`EmulatorCpu`]).
    pub emulator_busy: Option<f64>,
    /// The same, with the pipeline idle after the run.
    pub emulator_idle: Option<f64>,
    /// What the emulator did at most, measured right after the run on the same emulator
    /// ([`emulator_ceiling`]); end to end only.
    pub emulator_ceiling: Option<Ceiling>,
}

/// The emulator kept as busy as it goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ceiling {
    /// AWS requests per second it served, of the ceiling's own mix of calls.
    pub requests_per_second: f64,
    /// Its CPU-seconds per second meanwhile, where its process is on this machine.
    pub busy: Option<f64>,
}

impl Run {
    /// How much of the emulator the run kept busy: its CPU time per second during the run over
    /// the same while saturated. Requests differ in cost (an item with four indexes to update,
    /// a signature, a transaction of two items), so the time they take, not their count, is
    /// the measure.
    ///
    /// What the emulator spends with the pipeline idling (long polls of empty queues, which
    /// MiniStack serves by scanning every 100 ms) is taken out of the run's, at its rate
    /// measured right after the run: an overestimate (the queues are seldom empty during it),
    /// so the share is a lower bound of the pipeline's useful work. The harness watches the
    /// run's end through the pushed changes ([`Watcher`]), at no cost to the emulator.
    pub fn emulator_share(&self) -> Option<f64> {
        let busiest = self.emulator_ceiling?.busy?;
        Some((self.emulator_busy? - self.emulator_idle?).max(0.0) / busiest.max(1e-9))
    }
}

/// The CPU time of the emulator's process (every thread), from `/proc/<pid>/stat`: the pid
/// is `BENCH_EMULATOR_PID`, which `scripts/bench.sh` reads from the stack's pid file. An
/// emulator in a container, or a pid that is gone, measures nothing.
#[derive(Debug, Clone, Copy)]
pub struct EmulatorCpu(u32);

impl EmulatorCpu {
    /// Linux reports process times in `USER_HZ` ticks, 100 a second on every architecture
    /// it exports them from (`sysconf(_SC_CLK_TCK)`).
    const TICKS_PER_SECOND: f64 = 100.0;

    pub fn from_env() -> Option<EmulatorCpu> {
        let pid = std::env::var("BENCH_EMULATOR_PID")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cpu = EmulatorCpu(pid);
        cpu.seconds().map(|_| cpu)
    }

    /// User plus system CPU-seconds so far.
    pub fn seconds(self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        Self::parse(&stat)
    }

    fn parse(stat: &str) -> Option<f64> {
        // The command name, in parentheses, may hold spaces: fields are counted after it.
        let (_, after) = stat.rsplit_once(')')?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of proc(5), utime and stime; `after` starts at field 3.
        let ticks = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        Some((ticks(14)? + ticks(15)?) as f64 / Self::TICKS_PER_SECOND)
    }

    /// CPU-seconds per second since `(cpu, at)`, a reading taken earlier.
    fn rate_since(self, (cpu, at): (f64, Instant)) -> Option<f64> {
        Some((self.seconds()? - cpu) / at.elapsed().as_secs_f64().max(1e-9))
    }

    fn reading(self) -> Option<(f64, Instant)> {
        Some((self.seconds()?, Instant::now()))
    }
}

impl Run {
    /// Confirmed transactions per second, first POST to the last final.
    pub fn confirmed_per_second(&self) -> f64 {
        self.confirmed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// AWS requests per second the run made, everyone's.
    pub fn aws_requests_per_second(&self) -> f64 {
        self.sample.requests.values().sum::<u64>() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How often the harness looks whether the run is over.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// Without news from the pushed changes for this long, the table is asked.
const QUIET_FOR: Duration = Duration::from_secs(5);
/// How long [`Stack::emulator_idle`] measures.
const IDLE_WINDOW: Duration = Duration::from_secs(3);

/// The transactions' latest statuses as the local WebSocket pushes them (devstack's
/// `Running::updates`): watching for a run's end costs the emulator nothing, where counting
/// the table's statuses every 250 ms cost it a quarter of its time by the end of a run.
struct Watcher {
    latest: Arc<Mutex<std::collections::HashMap<String, Status>>>,
    /// Changes were missed: the table must be asked.
    lagged: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    fn start(mut updates: tokio::sync::broadcast::Receiver<String>) -> Watcher {
        let latest: Arc<Mutex<std::collections::HashMap<String, Status>>> = Arc::default();
        let lagged = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let (latest, lagged) = (latest.clone(), lagged.clone());
            async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match updates.recv().await {
                        Ok(message) => {
                            let Ok(update) = serde_json::from_str::<serde_json::Value>(&message)
                            else {
                                continue;
                            };
                            let tx = &update["transaction"];
                            let status = serde_json::from_value::<Status>(tx["status"].clone());
                            if let (Some(id), Ok(status)) = (tx["transaction_id"].as_str(), status)
                            {
                                latest
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .insert(id.to_owned(), status);
                            }
                        }
                        Err(RecvError::Lagged(_)) => {
                            lagged.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        });
        Watcher {
            latest,
            lagged,
            task,
        }
    }

    /// How many of `ids` were last seen final.
    fn finals(&self, ids: &[TxId]) -> usize {
        let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        ids.iter()
            .filter(|id| {
                latest.get(&id.to_string()).is_some_and(|s| {
                    matches!(
                        s,
                        Status::Confirmed | Status::Reverted | Status::NeedsReview
                    )
                })
            })
            .count()
    }
}

/// How long [`emulator_ceiling`] keeps the emulator busy.
const CEILING_WINDOW: Duration = Duration::from_secs(8);
/// Clients at once: more than the run's pollers, functions and clients together would use.
const CEILING_CLIENTS: usize = 64;

/// The most AWS requests per second the emulator serves, of the calls a transaction mostly
/// makes (a read and two conditional updates of one item, a message sent, received and
/// deleted), from [`CEILING_CLIENTS`] clients at once for [`CEILING_WINDOW`]: what the
/// end-to-end run's rate is measured against.
pub async fn emulator_ceiling(
    sdk: &SdkConfig,
    table: &str,
    cpu: Option<EmulatorCpu>,
) -> Result<Ceiling, BenchError> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue = sqs
        .create_queue()
        .queue_name(format!("{table}-ceiling"))
        .send()
        .await
        .map_err(|e| {
            BenchError::Failed(format!(
                "creating the ceiling queue: {}",
                tx_shared::aws::describe(&e)
            ))
        })?
        .queue_url
        .unwrap_or_default();
    let served = std::sync::atomic::AtomicU64::new(0);
    let attempted = std::sync::atomic::AtomicU64::new(0);
    let until = Instant::now() + CEILING_WINDOW;
    let started = Instant::now();
    let cpu_before = cpu.and_then(EmulatorCpu::reading);
    futures::future::join_all((0..CEILING_CLIENTS).map(|client| {
        let (dynamo, sqs, queue, served, attempted) = (&dynamo, &sqs, &queue, &served, &attempted);
        async move {
            let key = AttributeValue::S(format!("BENCH#ceiling#{client}"));
            while Instant::now() < until {
                let ok = [
                    dynamo
                        .get_item()
                        .table_name(table)
                        .key("pk", key.clone())
                        .send()
                        .await
                        .is_ok(),
                    dynamo
                        .update_item()
                        .table_name(table)
                        .key("pk", key.clone())
                        .update_expression("ADD n :one")
                        .expression_attribute_values(":one", AttributeValue::N("1".into()))
                        .send()
                        .await
                        .is_ok(),
                    dynamo
                        .update_item()
                        .table_name(table)
                        .key("pk", key.clone())
                        .update_expression("SET m = :m")
                        .condition_expression("attribute_exists(n)")
                        .expression_attribute_values(":m", AttributeValue::S("x".into()))
                        .send()
                        .await
                        .is_ok(),
                    sqs.send_message()
                        .queue_url(queue)
                        .message_body("{}")
                        .send()
                        .await
                        .is_ok(),
                ];
                let received = sqs
                    .receive_message()
                    .queue_url(queue)
                    .max_number_of_messages(1)
                    .send()
                    .await;
                let mut done = ok.iter().filter(|ok| **ok).count() as u64;
                let mut tried = ok.len() as u64 + 1;
                if let Ok(out) = received {
                    done += 1;
                    for message in out.messages.unwrap_or_default() {
                        let handle = message.receipt_handle.unwrap_or_default();
                        let deleted = sqs
                            .delete_message()
                            .queue_url(queue)
                            .receipt_handle(handle)
                            .send()
                            .await;
                        done += u64::from(deleted.is_ok());
                        tried += 1;
                    }
                }
                served.fetch_add(done, std::sync::atomic::Ordering::Relaxed);
                attempted.fetch_add(tried, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }))
    .await;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let busy = cpu
        .zip(cpu_before)
        .and_then(|(cpu, before)| cpu.rate_since(before));
    let _ = sqs.delete_queue().queue_url(&queue).send().await;
    let served = served.load(std::sync::atomic::Ordering::Relaxed);
    let attempted = attempted.load(std::sync::atomic::Ordering::Relaxed);
    // An emulator failing its calls serves few: no ceiling to measure against.
    if served == 0 || (attempted - served) * 100 > attempted {
        return Err(BenchError::Failed(format!(
            "the emulator failed {} of {attempted} calls while its ceiling was measured",
            attempted - served
        )));
    }
    Ok(Ceiling {
        requests_per_second: served as f64 / elapsed,
        busy,
    })
}

/// `transactions` POSTs, `concurrency` at a time, on a stack of their own, until all are final.
async fn run(
    stack: Stack,
    transactions: u64,
    concurrency: usize,
    within: Duration,
) -> Result<Run, BenchError> {
    let result = async {
        stack.meter.take(0);
        stack.proxy.reset_stats();
        let watcher = Watcher::start(stack.running.updates());
        let cpu = EmulatorCpu::from_env();
        let cpu_before = cpu.and_then(EmulatorCpu::reading);
        let started = Instant::now();
        let answers: Vec<Result<(Duration, TxId), BenchError>> =
            futures::stream::iter(0..transactions)
                .map(|i| stack.post(i, format!("bench-{i}")))
                .buffer_unordered(concurrency)
                .collect()
                .await;
        let mut run = Run {
            transactions,
            concurrency,
            ..Run::default()
        };
        let mut ids = Vec::new();
        for answer in answers {
            match answer {
                Ok((latency, id)) => {
                    run.latencies.push(latency);
                    ids.push(id);
                }
                Err(e) => {
                    run.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        let watched = stack.wait_watched(&watcher, &ids, started + within).await;
        watcher.task.abort();
        watched?;
        run.elapsed = started.elapsed();
        run.emulator_busy = cpu
            .zip(cpu_before)
            .and_then(|(cpu, before)| cpu.rate_since(before));
        // What the table says, once: the pushed statuses only said when to look.
        (run.confirmed, run.failed) = stack.wait_final(ids.len() as u64, Instant::now()).await?;
        run.timed_out = run.confirmed + run.failed < ids.len() as u64;
        // A last receipt check or notifier read may still be on its way.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        run.sample = stack.meter.take(ids.len() as u64);
        if let Some(cpu) = cpu.filter(|_| stack.measure_emulator) {
            run.emulator_idle = stack.emulator_idle(cpu).await;
        }
        run.node = stack.proxy.stats();
        let stored: Vec<Result<Transaction, BenchError>> = futures::stream::iter(&ids)
            .map(|id| stack.get(*id))
            .buffer_unordered(16)
            .collect()
            .await;
        // By lane: each lane's nonces distinct and gap-free from 0, one per transaction.
        let mut nonces: std::collections::BTreeMap<_, BTreeSet<u64>> = Default::default();
        for tx in stored {
            let tx = tx?;
            let retries = retries(&tx) as u64;
            run.retries.0 += retries;
            run.retries.1 += u64::from(retries > 0);
            if let Some(nonce) = tx.nonce {
                nonces.entry(tx.from).or_default().insert(nonce);
            }
            run.lanes_used = nonces.len();
        }
        let taken: usize = nonces.values().map(BTreeSet::len).sum();
        run.nonces_gapless = taken == ids.len()
            && nonces
                .values()
                .all(|lane| lane.iter().copied().eq(0..lane.len() as u64));
        Ok(run)
    }
    .await;
    stack.stop().await;
    result
}

/// Phase 5: `transactions` through the make-dev stack, the node at zero latency.
pub async fn end_to_end(
    sdk: &SdkConfig,
    anvil_url: &str,
    transactions: u64,
) -> Result<Run, BenchError> {
    let runner = runner(4, Duration::from_secs(10), Backoff::default());
    let mut stack = Stack::start(sdk, anvil_url, "e2e", ProxyConfig::default(), runner).await?;
    stack.measure_emulator = true;
    let table = stack.table.clone();
    let mut run = run(stack, transactions, 32, Duration::from_secs(300)).await?;
    // Then the emulator alone, on the run's table, its pipeline stopped; a ceiling that can't
    // be measured leaves the run's numbers as they are.
    run.emulator_ceiling = emulator_ceiling(sdk, &table, EmulatorCpu::from_env())
        .await
        .inspect_err(|e| eprintln!("tx-bench: no emulator ceiling: {e}"))
        .ok();
    Ok(run)
}

/// The challenge's node, time-scaled, as `tests/failures.rs` runs it.
pub const CHALLENGE_TIME_SCALE: f64 = 0.001;

/// The mean wait of one call to the challenge's node at full scale, from the preset itself:
/// normal and failing answers take the normal latency, slow ones the slow latency, hangs the
/// functions' default 45 s `RPC_TIMEOUT_MS`, drops nothing.
pub fn challenge_mean_wait() -> Duration {
    let node = ProxyConfig::challenge();
    let mid = |[lo, hi]: [u64; 2]| (lo + hi) as f64 / 2.0 / 1e3;
    let answered = 1.0 - node.slow_probability - node.hang_probability - node.drop_probability;
    let hang = (node.hang_ms as f64 / 1e3).min(45.0);
    Duration::from_secs_f64(
        answered * mid(node.latency_ms)
            + node.slow_probability * mid(node.slow_latency_ms)
            + node.hang_probability * hang,
    )
}

/// Phase 6: `transactions` through the challenge's node.
pub async fn challenge(
    sdk: &SdkConfig,
    anvil_url: &str,
    transactions: u64,
) -> Result<Run, BenchError> {
    let node = ProxyConfig {
        // Held 2 s (scaled): past the 1 s client timeout below.
        hang_ms: 2_000_000,
        seed: Some(7),
        ..ProxyConfig::challenge().with_time_scale(CHALLENGE_TIME_SCALE)
    };
    let backoff = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(4), 12)
        .map_err(|e| BenchError::Failed(e.to_string()))?;
    // Scaled, the slowest answers take 45 ms; a loaded 2-core machine adds more.
    let runner = RunnerOptions {
        sweep_interval: Some(Duration::from_secs(30)),
        ..runner(4, Duration::from_secs(1), backoff)
    };
    let stack = Stack::start(sdk, anvil_url, "challenge", node, runner).await?;
    run(stack, transactions, 25, Duration::from_secs(600)).await
}

/// Phase 7's node: blocks every 2 s, and at most this many pending per sender.
pub const LANES_BLOCK_SECONDS: u64 = 2;
pub const LANES_PENDING_PER_SENDER: u32 = 16;
/// The lane counts phase 7 compares.
pub const LANE_COUNTS: [usize; 3] = [1, 2, 4];

/// An anvil of the phase's own (blocks on a timer), killed when dropped.
struct TimedAnvil {
    child: std::process::Child,
    url: String,
}

impl TimedAnvil {
    async fn start(block_seconds: u64) -> Result<Self, BenchError> {
        let binary = std::env::var("ANVIL_BIN").unwrap_or_else(|_| {
            format!(
                "{}/.tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
                crate::workspace_root().display()
            )
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| BenchError::Failed(format!("a port for anvil: {e}")))?
            .port();
        let child = std::process::Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--block-time", &block_seconds.to_string(), "--silent"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| BenchError::Failed(format!("starting anvil at {binary}: {e}")))?;
        let anvil = TimedAnvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = tx_shared::tls::reqwest_builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = http
                .post(&anvil.url)
                .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}))
                .send()
                .await
                .is_ok();
            if up {
                return Ok(anvil);
            }
            if Instant::now() >= deadline {
                return Err(BenchError::Failed(format!(
                    "anvil on {} did not answer",
                    anvil.url
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for TimedAnvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Phase 7: the same burst through 1, 2 and 4 lanes, each on a stack of its own, the node
/// taking a block every 2 s and at most 16 pending per sender (as geth guarantees a sender).
pub async fn lanes(sdk: &SdkConfig, transactions: u64) -> Result<Vec<(usize, Run)>, BenchError> {
    let anvil = TimedAnvil::start(LANES_BLOCK_SECONDS).await?;
    let node = ProxyConfig {
        max_pending_per_sender: Some(LANES_PENDING_PER_SENDER),
        ..ProxyConfig::default()
    };
    let mut runs = Vec::new();
    for lanes in LANE_COUNTS {
        let runner = RunnerOptions {
            lanes,
            ..runner(4, Duration::from_secs(10), Backoff::default())
        };
        let stack = Stack::start(
            sdk,
            &anvil.url,
            &format!("lanes{lanes}"),
            node.clone(),
            runner,
        )
        .await?;
        runs.push((
            lanes,
            run(stack, transactions, 32, Duration::from_secs(600)).await?,
        ));
    }
    Ok(runs)
}

/// An item's size as DynamoDB bills it: attribute names plus values (numbers about one byte
/// per two digits, plus one; lists and maps three bytes plus one per element).
pub fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(map) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value(v))
                    .sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter().map(|(name, v)| name.len() + value(v)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_emulators_cpu_time_is_user_plus_system_after_a_name_with_spaces() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat =
            "17013 (python3 -m ministack) S 1 17013 17013 0 -1 4194560 9 0 0 0 1500 224 0 0 20 0 9";
        assert_eq!(EmulatorCpu::parse(stat), Some(17.24));
        assert_eq!(EmulatorCpu::parse("17013 (ministack) S 1 2"), None);
        assert_eq!(EmulatorCpu::parse("no parenthesis"), None);
        // This process is on this machine (where there is a /proc); a pid that can't exist is not.
        if cfg!(target_os = "linux") {
            assert!(EmulatorCpu(std::process::id()).seconds().is_some());
        }
        assert!(EmulatorCpu(u32::MAX).seconds().is_none());
    }
}
