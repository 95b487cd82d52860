//! Dead-letter consumer: a message that exhausted its deliveries marks its transaction
//! `needs_review` (with the queue in its history), and stays in the dead-letter queue for the
//! operators: the record is reported as failed, so SQS keeps it, hidden for the queue's long
//! visibility timeout. A message that can't even be parsed is kept the same way and logged with
//! its message id.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use tx_shared::adapters::dynamo::DynamoStore;
use tx_shared::aws::AwsClients;
use tx_shared::batch::{self, Delivery, QueueDefault, RetryLater};
use tx_shared::config::{ConfigError, Env};
use tx_shared::ports::{StoreError, Transitions};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
        })
    }
}

pub struct DeadLetters<S> {
    pub store: S,
}

impl DeadLetters<DynamoStore> {
    pub fn from_aws(config: &Config, clients: &AwsClients) -> Self {
        DeadLetters {
            store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
        }
    }
}

/// Kept messages come back after the dead-letter queue's visibility timeout (12 hours).
const KEPT: &str = "kept in the dead-letter queue for review";

impl<S: Transitions> DeadLetters<S> {
    pub async fn handle(&self, event: SqsEvent, deadline: batch::Deadline) -> SqsBatchResponse {
        batch::process(event, deadline, &QueueDefault, |delivery| async move {
            self.review(delivery).await
        })
        .await
    }

    /// Always "fails": the message stays where the operators can see it.
    pub async fn review(&self, delivery: Delivery) -> Result<(), RetryLater> {
        let queue = delivery
            .queue_arn
            .as_deref()
            .and_then(|arn| arn.rsplit(':').next())
            .unwrap_or("unknown queue")
            .to_owned();
        match self
            .store
            .record_dead_letter(
                delivery.message.transaction_id,
                &queue,
                &delivery.message_id,
                delivery.message.generation,
            )
            .await
        {
            Ok(()) => tracing::error!(%queue, "dead-lettered; the transaction needs review"),
            Err(StoreError::NotFound(_)) => {
                tracing::error!(%queue, "dead-lettered message for an unknown transaction")
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not record the dead letter; it will be seen again")
            }
        }
        Err(RetryLater::new(KEPT))
    }
}
