//! Sweeper: nothing that got a 200 may be left behind. On a schedule it finds transactions in a
//! non-final status whose next step is overdue — a lost message, a crash between a write and a
//! publish, a consumer that died mid-record — and hands each to the stage it is in again. Every
//! stage is idempotent, so a sweep can never cause a second signature or broadcast.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
pub mod watchdog;

use tx_shared::adapters::{
    dynamo::DynamoStore, kms::KmsSigner, pool::NodePool, rpc::RpcNode, sns::SnsPublisher,
    sqs::SqsQueue,
};
use tx_shared::aws::AwsClients;
use tx_shared::by_chain::ByChain;
use tx_shared::config::{ChainDecl, Chains, ConfigError, Env};
use tx_shared::domain::{Event, HistoryEntry, Status, Transaction, TxMessage};
use tx_shared::ports::{BroadcastQueue, Reading, RequestPublisher, StoreError, Transitions};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    pub broadcast_queue_url: String,
    /// How long past its due time a transaction counts as stuck.
    pub grace: Duration,
    /// At most this many transactions per status and sweep.
    pub batch_limit: u32,
    /// The watchdog's: every chain served, each lane's key (whose nonces it watches and
    /// fills with), the nodes, and the caps (a lane that can't pay one transaction at them is
    /// underfunded).
    pub chains: Chains,
    pub rpc_timeout: Duration,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            topic_arn: env.required("TOPIC_ARN")?,
            broadcast_queue_url: env.required("BROADCAST_QUEUE_URL")?,
            grace: Duration::from_secs(env.or_default("SWEEP_GRACE_SECONDS", 300)?),
            batch_limit: env.or_default("SWEEP_BATCH_LIMIT", 500)?,
            chains: env.chains()?,
            rpc_timeout: Duration::from_millis(env.or_default("RPC_TIMEOUT_MS", 45_000)?),
        })
    }
}

pub struct Sweeper<S, P, Q> {
    pub store: S,
    /// Unsigned transactions go back through the topic, to the signer.
    pub publisher: P,
    /// Signed ones go straight to the broadcaster.
    pub queue: Q,
    pub grace: Duration,
    pub batch_limit: u32,
}

pub type AwsSweeper = Sweeper<DynamoStore, SnsPublisher, SqsQueue>;

impl AwsSweeper {
    pub fn from_aws(config: &Config, clients: &AwsClients) -> Self {
        Sweeper {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
            publisher: SnsPublisher::new(clients.sns.clone(), &config.topic_arn),
            queue: SqsQueue::new(clients.sqs.clone(), &config.broadcast_queue_url),
            grace: config.grace,
            batch_limit: config.batch_limit,
        }
    }
}

/// The nonce watchdog as deployed.
pub type AwsWatchdog = watchdog::Watchdog<DynamoStore, SqsQueue, NodePool<RpcNode>, KmsSigner>;

impl AwsWatchdog {
    /// One chain's watchdog.
    pub fn from_aws(
        config: &Config,
        chain: &ChainDecl,
        clients: &AwsClients,
    ) -> Result<Self, ConfigError> {
        Ok(watchdog::Watchdog {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
            to_broadcaster: SqsQueue::new(clients.sqs.clone(), &config.broadcast_queue_url),
            node: NodePool::for_chain(chain, config.rpc_timeout)?,
            keys: KmsSigner::lanes_of(&clients.kms, chain),
            chain_id: chain.id,
            min_balance_wei: chain.min_balance_wei(),
            // Index lag is milliseconds; a sweep's grace is minutes.
            settle: config.grace.min(Duration::from_secs(30)),
            window: 100,
            // The schedule's function runs for two minutes; the sweep goes first.
            budget: Duration::from_secs(60),
        })
    }

    /// A watchdog for every chain served, the default chain's first.
    pub fn for_each_chain(
        config: &Config,
        clients: &AwsClients,
    ) -> Result<ByChain<Self>, ConfigError> {
        ByChain::of_chains(&config.chains, |chain| {
            AwsWatchdog::from_aws(config, chain, clients)
        })
    }
}

/// One run of the schedule: the sweep, then every chain's watchdog at once; none stops
/// another. Any failing fails the run (the functions' error alarm), after all ran.
pub async fn run_schedule(
    sweeper: &AwsSweeper,
    watchdogs: &ByChain<AwsWatchdog>,
) -> Result<serde_json::Value, ScheduleError> {
    let swept = sweeper.sweep().await;
    let watched =
        futures::future::join_all(watchdogs.iter().map(|(chain_id, watchdog)| async move {
            watchdog
                .watch()
                .await
                .map(|lanes| serde_json::json!({ "chain_id": chain_id, "lanes": lanes }))
        }))
        .await;
    let sweep = swept.map_err(ScheduleError::Sweep)?;
    let chains = watched
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(ScheduleError::Watch)?;
    Ok(serde_json::json!({ "sweep": sweep, "chains": chains }))
}

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("the sweep failed: {0}")]
    Sweep(#[source] StoreError),
    #[error("the nonce watch failed: {0}")]
    Watch(#[source] watchdog::WatchError),
}

/// Why a stuck transaction could not be handed on: its queue or the store.
#[derive(Debug, thiserror::Error)]
enum RedriveError {
    #[error(transparent)]
    Queue(#[from] tx_shared::ports::QueueError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub to_signer: u32,
    pub to_broadcaster: u32,
    pub failed: u32,
}

/// The statuses a transaction can be stuck in.
const SWEPT: [Status; 4] = [
    Status::Received,
    Status::Retrying,
    Status::Signed,
    Status::Broadcast,
];

impl<S, P, Q> Sweeper<S, P, Q>
where
    S: Reading + Transitions,
    P: RequestPublisher,
    Q: BroadcastQueue,
{
    pub async fn sweep(&self) -> Result<SweepReport, StoreError> {
        let now = OffsetDateTime::now_utc();
        let mut report = SweepReport::default();
        for status in SWEPT {
            for tx in self
                .store
                .list_overdue(status, now - self.grace, self.batch_limit)
                .await?
            {
                let span = tracing::info_span!("sweep", transaction_id = %tx.id, %status);
                let _entered = span.enter();
                match self.redrive(&tx, now).await {
                    Ok(true) => report.to_broadcaster += 1,
                    Ok(false) => report.to_signer += 1,
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(error = %e, "could not re-publish a stuck transaction");
                    }
                }
            }
        }
        if report != SweepReport::default() {
            tracing::warn!(?report, "swept stuck transactions");
        }
        Ok(report)
    }

    /// Hands the transaction to its stage again; `Ok(true)` if that was the broadcaster.
    async fn redrive(&self, tx: &Transaction, now: OffsetDateTime) -> Result<bool, RedriveError> {
        let message = TxMessage::of(tx);
        let to_broadcaster = tx.signed.is_some();
        if to_broadcaster {
            self.queue.enqueue(&message, Duration::ZERO).await?;
        } else {
            self.publisher.publish(&message).await?;
        }
        // Not again before another grace period, unless the consumer moves it first.
        self.store.schedule(tx.id, now + self.grace).await?;
        let stage = if to_broadcaster {
            "broadcaster"
        } else {
            "signer"
        };
        let entry = HistoryEntry::now(Event::Swept).detail(format!(
            "{} and overdue; handed to the {stage} again",
            tx.status
        ));
        self.store.record_event(tx.id, entry).await?;
        Ok(to_broadcaster)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Bytes;
    use tx_fakes::RecordingQueue;
    use tx_shared::adapters::memory::MemoryStore;
    use tx_shared::domain::TxId;

    use super::*;

    fn sweeper(grace: Duration) -> Sweeper<MemoryStore, RecordingQueue, RecordingQueue> {
        Sweeper {
            store: MemoryStore::new(),
            publisher: RecordingQueue::default(),
            queue: RecordingQueue::default(),
            grace,
            batch_limit: 10,
        }
    }

    async fn received(store: &MemoryStore) -> TxId {
        tx_fakes::received(store).await
    }

    async fn signed(store: &MemoryStore) -> TxId {
        tx_fakes::signed(store, 0, Bytes::from(vec![0x02])).await.0
    }

    #[tokio::test]
    async fn overdue_transactions_go_back_to_their_stage_once_per_grace() {
        let sweeper = sweeper(Duration::ZERO);
        let unsigned = received(&sweeper.store).await;
        let sent = signed(&sweeper.store).await;
        let report = sweeper.sweep().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            report,
            SweepReport {
                to_signer: 1,
                to_broadcaster: 1,
                failed: 0
            }
        );
        let published: Vec<TxId> = sweeper
            .publisher
            .enqueued()
            .iter()
            .map(|(m, _)| m.transaction_id)
            .collect();
        let enqueued: Vec<TxId> = sweeper
            .queue
            .enqueued()
            .iter()
            .map(|(m, _)| m.transaction_id)
            .collect();
        assert_eq!((published, enqueued), (vec![unsigned], vec![sent]));
        let swept = sweeper
            .store
            .get(unsigned)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("gone"));
        assert!(swept.history.iter().any(|e| e.event == Event::Swept));
    }

    #[tokio::test]
    async fn what_is_not_overdue_or_is_final_is_left_alone() {
        let sweeper = sweeper(Duration::from_secs(3600));
        received(&sweeper.store).await;
        let done = received(&sweeper.store).await;
        sweeper
            .store
            .record_needs_review(done, "a human looks", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sweeper.sweep().await.unwrap_or_else(|e| panic!("{e}")),
            SweepReport::default()
        );
        assert!(sweeper.publisher.enqueued().is_empty());
    }

    #[tokio::test]
    async fn a_transaction_that_could_not_be_handed_on_is_tried_again_next_sweep() {
        let sweeper = sweeper(Duration::ZERO);
        let unsigned = received(&sweeper.store).await;
        sweeper
            .publisher
            .fail_next(tx_shared::ports::QueueError::Unavailable(
                "SNS is down".into(),
            ));
        assert_eq!(
            sweeper.sweep().await.unwrap_or_else(|e| panic!("{e}")),
            SweepReport {
                failed: 1,
                ..SweepReport::default()
            }
        );
        let tx = sweeper
            .store
            .get(unsigned)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("gone"));
        assert!(tx.history.iter().all(|e| e.event != Event::Swept));
        // Not scheduled past a grace period: the next sweep takes it.
        assert_eq!(
            sweeper.sweep().await.unwrap_or_else(|e| panic!("{e}")),
            SweepReport {
                to_signer: 1,
                ..SweepReport::default()
            }
        );
        let published: Vec<TxId> = sweeper
            .publisher
            .enqueued()
            .iter()
            .map(|(m, _)| m.transaction_id)
            .collect();
        assert_eq!(published, vec![unsigned]);
    }
}
