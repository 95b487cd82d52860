//! SQS batches, the way Lambda's event source mapping hands them over: records are processed
//! concurrently and failures are reported per record (`ReportBatchItemFailures`), so one bad
//! record never fails the whole batch.

use std::future::Future;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use tracing::Instrument;

use crate::domain::TxMessage;
use crate::ports::Redelivery;

/// One queue message, parsed.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: TxMessage,
    pub message_id: String,
    /// The queue it came from (`eventSourceARN`).
    pub queue_arn: Option<String>,
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
}

/// Why a record must be delivered again, and when.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct RetryLater {
    pub reason: String,
    /// `None`: when the queue's visibility timeout says.
    pub after: Option<Duration>,
}

impl RetryLater {
    pub fn new(reason: impl Into<String>) -> Self {
        RetryLater {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn after(reason: impl Into<String>, delay: Duration) -> Self {
        RetryLater {
            reason: reason.into(),
            after: Some(delay),
        }
    }
}

/// How many records of one batch run at once.
pub const BATCH_CONCURRENCY: usize = 10;

/// Runs `handle` on every record concurrently and reports the failed ones. A failure with a
/// delay sets that record's visibility timeout first: that is how retries back off.
pub async fn process<R, F, Fut>(event: SqsEvent, redelivery: &R, handle: F) -> SqsBatchResponse
where
    R: Redelivery,
    F: Fn(Delivery) -> Fut,
    Fut: Future<Output = Result<(), RetryLater>>,
{
    let handle = &handle;
    let failures = futures::stream::iter(event.records)
        .map(|record| async move {
            let message_id = record.message_id.clone().unwrap_or_default();
            let span =
                tracing::info_span!("record", %message_id, transaction_id = tracing::field::Empty);
            let outcome = async {
                let delivery = parse(&record).map_err(|e| RetryLater::new(e.to_string()))?;
                tracing::Span::current().record(
                    "transaction_id",
                    tracing::field::display(delivery.message.transaction_id),
                );
                handle(delivery).await
            }
            .instrument(span.clone())
            .await;
            match outcome {
                Ok(()) => None,
                Err(RetryLater { reason, after }) => {
                    if let (Some(delay), Some(receipt)) = (after, record.receipt_handle.as_deref())
                        && let Err(e) = redelivery
                            .redeliver_after(record.event_source_arn.as_deref(), receipt, delay)
                            .await
                    {
                        span.in_scope(|| {
                            tracing::warn!(error = %e, "could not set the retry delay; the queue's visibility timeout applies")
                        });
                    }
                    span.in_scope(|| {
                        tracing::warn!(%reason, delay_seconds = after.map(|d| d.as_secs()), "record failed; it will be delivered again")
                    });
                    let mut failure = BatchItemFailure::default();
                    failure.item_identifier = message_id;
                    Some(failure)
                }
            }
        })
        .buffer_unordered(BATCH_CONCURRENCY)
        .filter_map(|failure| async move { failure })
        .collect::<Vec<_>>()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

/// Why a record is not a transaction message. It fails like any record: redelivered until the
/// queue's cap, then kept in the dead-letter queue for an operator.
#[derive(Debug, thiserror::Error)]
pub enum BadRecord {
    #[error("message has no body")]
    NoBody,
    #[error("message body is not a transaction message: {0}")]
    NotATransactionMessage(#[source] serde_json::Error),
}

fn parse(record: &SqsMessage) -> Result<Delivery, BadRecord> {
    let body = record.body.as_deref().ok_or(BadRecord::NoBody)?;
    let message: TxMessage =
        serde_json::from_str(body).map_err(BadRecord::NotATransactionMessage)?;
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Ok(Delivery {
        message,
        message_id: record.message_id.clone().unwrap_or_default(),
        queue_arn: record.event_source_arn.clone(),
        receive_count,
    })
}

/// For consumers that never delay a redelivery.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueDefault;

impl Redelivery for QueueDefault {
    async fn redeliver_after(
        &self,
        _: Option<&str>,
        _: &str,
        _: Duration,
    ) -> Result<(), crate::ports::QueueError> {
        Ok(())
    }
}
