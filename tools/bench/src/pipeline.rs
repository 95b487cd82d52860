//! The pipeline under load: requests per transaction, 1,000 transactions end to end, and 1,000
//! through the challenge's node.
//!
//! Each phase provisions its own resources (a unique prefix, so its own table, queues and KMS
//! key, hence its own signer address and nonces) on the bench stack's emulator and anvil,
//! runs it with `devstack::start_with`, metered through its hooks ([`crate::runner`]). The
//! functions reach anvil through the fault-injecting proxy. Completion is watched with
//! uncounted DynamoDB reads, so watching costs nothing in the counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use devstack::{FunctionConfigs, Names, Provisioned, Role, RunnerOptions, Running};
use futures::StreamExt;
use rpc_proxy::{Fault, ProxyConfig, ProxyHandle, ProxyStats};
use serde_json::Value;
use tx_shared::adapters::dynamo::INDEX_BY_STATUS;
use tx_shared::backoff::Backoff;

use crate::BenchError;
use crate::fixtures::add_weight_body;
use crate::metering::Counts;
use crate::metering::counted_clients;
use crate::runner::{Invocations, Meters};

/// How a phase runs the consumers.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Concurrent pollers per main queue (like the event source mapping's concurrency).
    pub pollers_per_queue: usize,
    pub wait_time_seconds: i32,
    /// How often the sweeper runs; `None`: not at all (its cost is measured on its own).
    pub sweep_every: Option<Duration>,
}

/// How one phase's stack runs.
#[derive(Debug, Clone)]
pub struct PhaseOptions {
    pub name: &'static str,
    pub anvil_url: String,
    pub proxy: ProxyConfig,
    pub rpc_timeout: Duration,
    pub backoff: Backoff,
    pub consumers: ConsumerOptions,
    pub sweep_grace: Duration,
}

/// One phase's running stack.
pub struct Stack {
    pub provisioned: Provisioned,
    pub configs: FunctionConfigs,
    pub proxy: ProxyHandle,
    pub api_url: String,
    running: Running,
    meters: Arc<Meters>,
    http: reqwest::Client,
    /// Not counted: watching is not part of the bill.
    monitor: aws_sdk_dynamodb::Client,
}

fn aws_error<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Aws(format!("{what}: {e:?}"))
}

/// A prefix no earlier run used.
pub fn unique_prefix(phase: &str) -> String {
    format!("b-{phase}-{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

impl Stack {
    pub async fn start(sdk: &SdkConfig, options: &PhaseOptions) -> Result<Stack, BenchError> {
        let names = Names::new(unique_prefix(options.name));
        let provisioned = devstack::provision(
            sdk,
            &names,
            &options.anvil_url,
            devstack::default_target(),
            options.backoff.max_attempts,
        )
        .await?;
        let proxy = rpc_proxy::start(
            &options.anvil_url,
            ([127, 0, 0, 1], 0).into(),
            options.proxy.clone(),
        )
        .await?;
        let runner = RunnerOptions {
            api_addr: ([127, 0, 0, 1], 0).into(),
            pollers_per_queue: options.consumers.pollers_per_queue,
            wait_time_seconds: options.consumers.wait_time_seconds,
            sweep_interval: options.consumers.sweep_every,
            receipt_poll_seconds: 1,
            node_url: Some(proxy.url()),
            rpc_timeout: options.rpc_timeout,
            backoff: options.backoff,
            sweep_grace: options.sweep_grace,
            ..RunnerOptions::default()
        };
        let configs = devstack::function_configs(&provisioned, &runner);
        let meters = Arc::new(Meters::default());
        let running = devstack::start_with(sdk, &provisioned, &runner, meters.hooks(sdk)).await?;
        let mut client_key = reqwest::header::HeaderMap::new();
        if let Some((_, key)) = runner.api_keys.entries().next()
            && let Ok(value) = key.parse()
        {
            client_key.insert("x-api-key", value);
        }
        let http = tx_shared::tls::reqwest_builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .default_headers(client_key)
            .build()?;
        Ok(Stack {
            api_url: running.api_url(),
            provisioned,
            configs,
            proxy,
            running,
            meters,
            http,
            monitor: aws_sdk_dynamodb::Client::new(sdk),
        })
    }

    pub async fn stop(self) {
        self.running.shutdown().await;
        self.proxy.shutdown().await;
    }

    /// One `POST /transaction/broadcast`, timed from send to the whole answer read.
    /// Every POST carries an `Idempotency-Key`, as the README asks clients to.
    pub async fn post(&self, body: String, key: String) -> Result<(Duration, String), BenchError> {
        let started = Instant::now();
        let response = self
            .http
            .post(format!("{}/transaction/broadcast", self.api_url))
            .header("content-type", "application/json")
            .header("Idempotency-Key", key)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        let took = started.elapsed();
        if !status.is_success() {
            return Err(BenchError::Failed(format!(
                "POST answered {status}: {answer}"
            )));
        }
        let id = answer["transaction_id"]
            .as_str()
            .ok_or_else(|| BenchError::Failed(format!("no transaction_id in {answer}")))?;
        Ok((took, id.to_owned()))
    }

    /// `count` POSTs, `concurrency` at a time.
    pub async fn submit(&self, count: u64, concurrency: usize) -> Submitted {
        let started = Instant::now();
        let answers: Vec<Result<(Duration, String), BenchError>> = futures::stream::iter(0..count)
            .map(|i| self.post(add_weight_body(i), format!("bench-{i}")))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let mut submitted = Submitted {
            elapsed: started.elapsed(),
            ..Submitted::default()
        };
        for answer in answers {
            match answer {
                Ok((latency, id)) => {
                    submitted.latencies.push(latency);
                    submitted.ids.push(id);
                }
                Err(e) => {
                    submitted.errors += 1;
                    submitted.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        submitted
    }

    /// How many transactions are in `status` (a count on the `by_status` index).
    pub async fn count_in_status(&self, status: &str) -> Result<u64, BenchError> {
        let mut total = 0u64;
        let mut start = None;
        loop {
            let out = self
                .monitor
                .query()
                .table_name(&self.provisioned.table_name)
                .index_name(INDEX_BY_STATUS)
                .key_condition_expression("#s = :s")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":s", AttributeValue::S(status.to_owned()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(aws_error("counting statuses"))?;
            total += out.count.max(0) as u64;
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) => start = Some(key),
                None => return Ok(total),
            }
        }
    }

    /// Waits until `expected` transactions are final, or `within` passes.
    pub async fn wait_final(
        &self,
        expected: u64,
        within: Duration,
    ) -> Result<Finished, BenchError> {
        let started = Instant::now();
        let mut checks = 0u32;
        let mut failed = 0;
        loop {
            let confirmed = self.count_in_status("confirmed").await?;
            // Failures are rare; look for them less often.
            if checks.is_multiple_of(10) || confirmed + failed >= expected {
                failed = self.count_in_status("needs_review").await?
                    + self.count_in_status("reverted").await?;
            }
            checks += 1;
            if confirmed + failed >= expected || started.elapsed() >= within {
                return Ok(Finished {
                    confirmed,
                    failed,
                    elapsed: started.elapsed(),
                    timed_out: confirmed + failed < expected,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The stored item of a transaction (uncounted).
    pub async fn item(&self, id: &str) -> Result<HashMap<String, AttributeValue>, BenchError> {
        self.monitor
            .get_item()
            .table_name(&self.provisioned.table_name)
            .key("pk", AttributeValue::S(format!("TX#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws_error("reading a transaction"))?
            .item
            .ok_or_else(|| BenchError::Failed(format!("transaction {id} is not stored")))
    }

    /// Waits until one transaction is confirmed.
    async fn wait_confirmed(&self, id: &str, within: Duration) -> Result<(), BenchError> {
        let started = Instant::now();
        loop {
            let item = self.item(id).await?;
            match item
                .get("status")
                .and_then(|s| s.as_s().ok())
                .map(String::as_str)
            {
                Some("confirmed") => return Ok(()),
                Some(status @ ("needs_review" | "reverted")) => {
                    return Err(BenchError::Failed(format!(
                        "transaction {id} ended {status}"
                    )));
                }
                _ if started.elapsed() > within => {
                    return Err(BenchError::Failed(format!(
                        "transaction {id} not confirmed within {within:?}"
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    fn reset_counts(&self) {
        self.meters.reset();
    }

    fn sample(&self, transactions: u64, elapsed: Duration) -> Sample {
        Sample {
            transactions,
            functions: self.meters.functions.snapshot(),
            notifier: self.meters.notifier.snapshot(),
            consumers: self.meters.invocations(),
            elapsed,
        }
    }

    /// One transaction end to end, counted: reset, POST, wait for `confirmed` and for the
    /// stragglers (the notifier's read, the last delete), snapshot.
    async fn counted_transaction(&self, n: u64) -> Result<(Sample, String), BenchError> {
        self.reset_counts();
        let started = Instant::now();
        let (_, id) = self.post(add_weight_body(n), format!("count-{n}")).await?;
        self.wait_confirmed(&id, Duration::from_secs(60)).await?;
        let elapsed = started.elapsed();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok((self.sample(1, elapsed), id))
    }
}

/// What the POSTs of a run got.
#[derive(Debug, Clone, Default)]
pub struct Submitted {
    pub ids: Vec<String>,
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// First POST sent to last answer read.
    pub elapsed: Duration,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finished {
    pub confirmed: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Requests made over a window, by who made them.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub transactions: u64,
    /// The functions' requests.
    pub functions: Counts,
    /// The stream-fed notifier's requests.
    pub notifier: Counts,
    /// Invocations and the event source mappings' requests, by function.
    pub consumers: BTreeMap<Role, Invocations>,
    pub elapsed: Duration,
}

impl Sample {
    /// The event source mappings' SQS requests, as `(service, operation)` counts.
    pub fn mapping_requests(&self) -> Counts {
        let mut counts = Counts::new();
        for m in self.consumers.values() {
            *counts
                .entry(("SQS".into(), "ReceiveMessage".into()))
                .or_default() += m.receives;
            *counts
                .entry(("SQS".into(), "DeleteMessageBatch".into()))
                .or_default() += m.delete_batches;
        }
        counts.retain(|_, n| *n > 0);
        counts
    }

    /// Everything billed per transaction: functions, notifier, event source mappings.
    pub fn all_requests(&self) -> Counts {
        let mut all = self.functions.clone();
        crate::metering::add(&mut all, &self.notifier);
        crate::metering::add(&mut all, &self.mapping_requests());
        all
    }

    pub fn handler_time(&self) -> Duration {
        self.consumers.values().map(|m| m.handler_time).sum()
    }
}

/// The counted single transactions.
#[derive(Debug, Clone, Default)]
pub struct RequestCounts {
    /// The very first transaction of a fresh stack: cold clients, the nonce counter seeded.
    pub first: Sample,
    /// A warm transaction on the happy path.
    pub happy: Sample,
    /// A warm transaction whose first `eth_sendRawTransaction` got an HTTP 503.
    pub one_retry: Sample,
    pub retry_events: usize,
    /// One sweep of a quiet table.
    pub sweep: Counts,
    /// Stored size of a confirmed transaction, by DynamoDB's rules.
    pub item_bytes: usize,
}

/// Phase 4: requests per transaction, on the happy path and with one retry.
pub async fn count_requests(sdk: &SdkConfig, anvil_url: &str) -> Result<RequestCounts, BenchError> {
    let backoff = Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(4), 10)
        .map_err(|e| BenchError::Config(e.to_string()))?;
    let stack = Stack::start(
        sdk,
        &PhaseOptions {
            name: "count",
            anvil_url: anvil_url.to_owned(),
            proxy: ProxyConfig {
                methods: Some(vec!["eth_sendRawTransaction".to_owned()]),
                ..ProxyConfig::default()
            },
            rpc_timeout: Duration::from_secs(10),
            backoff,
            consumers: ConsumerOptions {
                pollers_per_queue: 1,
                wait_time_seconds: 5,
                sweep_every: None,
            },
            sweep_grace: Duration::from_secs(60),
        },
    )
    .await?;
    let counted = async {
        let (first, _) = stack.counted_transaction(1).await?;
        let (happy, happy_id) = stack.counted_transaction(2).await?;
        stack.proxy.fail_next(1, Fault::Http5xx);
        let (one_retry, retry_id) = stack.counted_transaction(3).await?;
        let retry_events = history_events(&stack.item(&retry_id).await?)
            .iter()
            .filter(|e| *e == "retry")
            .count();
        stack.meters.functions.reset();
        let sweeper = sweeper::AwsSweeper::from_aws(
            &stack.configs.sweeper,
            &counted_clients(sdk, &stack.meters.functions),
        );
        sweeper
            .sweep()
            .await
            .map_err(|e| BenchError::Failed(format!("sweep: {e}")))?;
        let sweep = stack.meters.functions.snapshot();
        let item_bytes = item_size(&stack.item(&happy_id).await?);
        Ok(RequestCounts {
            first,
            happy,
            one_retry,
            retry_events,
            sweep,
            item_bytes,
        })
    }
    .await;
    stack.stop().await;
    counted
}

/// A run of many transactions.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub transactions: u64,
    pub concurrency: usize,
    pub submitted: Submitted,
    /// First POST to the last transaction final.
    pub finished: Finished,
    pub sample: Sample,
    pub proxy: ProxyStats,
    pub tally: Option<HistoryTally>,
}

impl Run {
    /// Confirmed transactions per second, first POST to last confirmation.
    pub fn throughput(&self) -> f64 {
        let secs = self.finished.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.finished.confirmed as f64 / secs
        } else {
            0.0
        }
    }
}

async fn run(
    sdk: &SdkConfig,
    options: &PhaseOptions,
    transactions: u64,
    concurrency: usize,
    within: Duration,
    tally: bool,
) -> Result<Run, BenchError> {
    let stack = Stack::start(sdk, options).await?;
    let result = async {
        stack.reset_counts();
        stack.proxy.reset_stats();
        let started = Instant::now();
        let submitted = stack.submit(transactions, concurrency).await;
        let expected = submitted.ids.len() as u64;
        let left = within.saturating_sub(started.elapsed());
        let mut finished = stack.wait_final(expected, left).await?;
        finished.elapsed = started.elapsed();
        // A last receipt check or notifier read may still be on its way.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let sample = stack.sample(expected, finished.elapsed);
        let proxy = stack.proxy.stats();
        let tally = if tally {
            Some(tally_histories(&stack, &submitted.ids).await?)
        } else {
            None
        };
        Ok(Run {
            transactions,
            concurrency,
            submitted,
            finished,
            sample,
            proxy,
            tally,
        })
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
    let options = PhaseOptions {
        name: "e2e",
        anvil_url: anvil_url.to_owned(),
        proxy: ProxyConfig::default(),
        rpc_timeout: Duration::from_secs(10),
        backoff: Backoff::default(),
        consumers: ConsumerOptions {
            pollers_per_queue: 4,
            wait_time_seconds: 5,
            sweep_every: None,
        },
        sweep_grace: Duration::from_secs(60),
    };
    run(
        sdk,
        &options,
        transactions,
        32,
        Duration::from_secs(300),
        true,
    )
    .await
}

/// The challenge's node, time-scaled, as `tests/failures.rs` runs it.
pub const CHALLENGE_TIME_SCALE: f64 = 0.001;

/// The functions' default `RPC_TIMEOUT_MS`: what a hang costs at full scale.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(45);

/// The mean wait of one call to the challenge's node at full scale, from the preset itself:
/// normal and failing answers take the normal latency, slow ones the slow latency, hangs the
/// client's timeout, drops nothing.
pub fn challenge_mean_wait() -> Duration {
    let node = ProxyConfig::challenge();
    let mid = |[lo, hi]: [u64; 2]| (lo + hi) as f64 / 2.0 / 1e3;
    let faults_after_latency = node.http_5xx_probability + node.rpc_error_probability;
    let normal = 1.0
        - node.slow_probability
        - faults_after_latency
        - node.hang_probability
        - node.drop_probability;
    let hang = (node.hang_ms as f64 / 1e3).min(DEFAULT_RPC_TIMEOUT.as_secs_f64());
    Duration::from_secs_f64(
        (normal + faults_after_latency) * mid(node.latency_ms)
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
    let options = PhaseOptions {
        name: "challenge",
        anvil_url: anvil_url.to_owned(),
        proxy: ProxyConfig {
            // Held 2 s (scaled): past the 1 s client timeout below.
            hang_ms: 2_000_000,
            seed: Some(7),
            ..ProxyConfig::challenge().with_time_scale(CHALLENGE_TIME_SCALE)
        },
        // Scaled, the slowest answers take 45 ms; a loaded 2-core machine adds more.
        rpc_timeout: Duration::from_secs(1),
        backoff: Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(4), 12)
            .map_err(|e| BenchError::Config(e.to_string()))?,
        consumers: ConsumerOptions {
            pollers_per_queue: 4,
            wait_time_seconds: 5,
            sweep_every: Some(Duration::from_secs(30)),
        },
        sweep_grace: Duration::from_secs(60),
    };
    run(
        sdk,
        &options,
        transactions,
        25,
        Duration::from_secs(600),
        true,
    )
    .await
}

/// What the histories of a run's transactions say.
#[derive(Debug, Clone, Default)]
pub struct HistoryTally {
    pub events: BTreeMap<String, u64>,
    /// Every transaction has its own nonce, and they run 0..n without gaps.
    pub nonces_distinct_and_gapless: bool,
    /// Transactions that needed at least one retry.
    pub retried_transactions: u64,
}

async fn tally_histories(stack: &Stack, ids: &[String]) -> Result<HistoryTally, BenchError> {
    let items: Vec<Result<HashMap<String, AttributeValue>, BenchError>> =
        futures::stream::iter(ids)
            .map(|id| stack.item(id))
            .buffer_unordered(16)
            .collect()
            .await;
    let mut tally = HistoryTally::default();
    let mut nonces = BTreeSet::new();
    let mut with_nonce = 0usize;
    for item in items {
        let item = item?;
        let events = history_events(&item);
        if events.iter().any(|e| e == "retry") {
            tally.retried_transactions += 1;
        }
        for event in events {
            *tally.events.entry(event).or_default() += 1;
        }
        if let Some(nonce) = item
            .get("nonce")
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
        {
            with_nonce += 1;
            nonces.insert(nonce);
        }
    }
    let gapless = nonces.iter().copied().eq(0..nonces.len() as u64);
    tally.nonces_distinct_and_gapless =
        with_nonce == ids.len() && nonces.len() == ids.len() && gapless;
    Ok(tally)
}

fn history_events(item: &HashMap<String, AttributeValue>) -> Vec<String> {
    item.get("history")
        .and_then(|h| h.as_l().ok())
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.as_m().ok()?.get("event")?.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// An item's size as DynamoDB bills it: attribute names plus values (numbers about one byte
/// per two digits, plus one; lists and maps three bytes plus one per element).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}
