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

/// A queue's message: JSON about one transaction.
pub trait QueueMessage: serde::de::DeserializeOwned {
    /// The transaction every log line of the record names.
    fn transaction_id(&self) -> crate::domain::TxId;
}

impl QueueMessage for TxMessage {
    fn transaction_id(&self) -> crate::domain::TxId {
        self.transaction_id
    }
}

impl QueueMessage for crate::webhooks::DeliveryMessage {
    fn transaction_id(&self) -> crate::domain::TxId {
        self.transaction_id
    }
}

/// One queue message, parsed.
#[derive(Debug, Clone)]
pub struct Delivery<M = TxMessage> {
    pub message: M,
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

/// When the invocation must have answered (its Lambda deadline, less a margin to report the
/// batch): a record still running then is given up and reported failed, so a slow record
/// never takes the batch, and the records that finished, down with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<tokio::time::Instant>);

impl Deadline {
    /// Time left to report the batch once the records stop: under this, records get half.
    pub const MARGIN: Duration = Duration::from_secs(2);

    /// No deadline (tests, tools).
    pub const fn none() -> Self {
        Deadline(None)
    }

    /// `left` from now, less [`Self::MARGIN`] (or half of `left`, if that is shorter).
    pub fn after(left: Duration) -> Self {
        let margin = Self::MARGIN.min(left / 2);
        Deadline(Some(
            tokio::time::Instant::now() + left.saturating_sub(margin),
        ))
    }

    /// From Lambda's invocation deadline, in milliseconds since the epoch.
    pub fn of_invocation(deadline_epoch_ms: u64) -> Self {
        let now_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let left = u64::try_from(i128::from(deadline_epoch_ms) - now_ms).unwrap_or(0);
        Self::after(Duration::from_millis(left))
    }
}

/// Runs `handle` on every record concurrently and reports the failed ones. A failure with a
/// delay sets that record's visibility timeout first: that is how retries back off. A record
/// still running at `deadline` is dropped where it stands (every step is idempotent, as after
/// a crash) and reported failed: its message comes back after the visibility timeout.
pub async fn process<M, R, F, Fut>(
    event: SqsEvent,
    deadline: Deadline,
    redelivery: &R,
    handle: F,
) -> SqsBatchResponse
where
    M: QueueMessage,
    R: Redelivery,
    F: Fn(Delivery<M>) -> Fut,
    Fut: Future<Output = Result<(), RetryLater>>,
{
    let handle = &handle;
    let failures = futures::stream::iter(event.records)
        .map(|record| async move {
            let message_id = record.message_id.clone().unwrap_or_default();
            let span =
                tracing::info_span!("record", %message_id, transaction_id = tracing::field::Empty);
            let outcome = async {
                let delivery = parse::<M>(&record).map_err(|e| RetryLater::new(e.to_string()))?;
                tracing::Span::current().record(
                    "transaction_id",
                    tracing::field::display(delivery.message.transaction_id()),
                );
                match deadline.0 {
                    None => handle(delivery).await,
                    Some(at) => tokio::time::timeout_at(at, handle(delivery))
                        .await
                        .unwrap_or_else(|_| {
                            Err(RetryLater::new(
                                "the invocation's deadline came before this record finished; it is delivered again",
                            ))
                        }),
                }
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

/// Why a record is not a message of its queue. It fails like any record: redelivered until the
/// queue's cap, then kept in the dead-letter queue for an operator.
#[derive(Debug, thiserror::Error)]
pub enum BadRecord {
    #[error("message has no body")]
    NoBody,
    #[error("message body is not a message of this queue: {0}")]
    NotATransactionMessage(#[source] serde_json::Error),
}

fn parse<M: QueueMessage>(record: &SqsMessage) -> Result<Delivery<M>, BadRecord> {
    let body = record.body.as_deref().ok_or(BadRecord::NoBody)?;
    let message: M = serde_json::from_str(body).map_err(BadRecord::NotATransactionMessage)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use aws_lambda_events::event::sqs::SqsMessage;

    use super::*;
    use crate::domain::TxId;

    /// Records which receipts got a retry delay.
    #[derive(Default)]
    struct Delays(Mutex<Vec<String>>);

    impl Redelivery for Delays {
        async fn redeliver_after(
            &self,
            _: Option<&str>,
            receipt: &str,
            _: Duration,
        ) -> Result<(), crate::ports::QueueError> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(receipt.to_owned());
            Ok(())
        }
    }

    fn event(ids: &[TxId]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut record = SqsMessage::default();
                record.message_id = Some(format!("m-{i}"));
                record.receipt_handle = Some(format!("r-{i}"));
                record.body = serde_json::to_string(&TxMessage::new(*id)).ok();
                record
            })
            .collect();
        event
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_still_running_at_the_deadline_fails_alone() {
        let (quick, slow) = (TxId::generate(), TxId::generate());
        let delays = Delays::default();
        let response = process(
            event(&[quick, slow]),
            Deadline::after(Duration::from_secs(10)),
            &delays,
            |delivery: Delivery| async move {
                if delivery.message.transaction_id == slow {
                    // A node that never answers.
                    std::future::pending::<()>().await;
                }
                Ok(())
            },
        )
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["m-1"]);
        assert!(delays.0.lock().map(|d| d.is_empty()).unwrap_or(false));
    }

    #[test]
    fn a_deadline_keeps_a_margin_to_answer() {
        let before = tokio::time::Instant::now();
        let Deadline(Some(at)) = Deadline::after(Duration::from_secs(60)) else {
            panic!("no deadline");
        };
        let Deadline(Some(short)) = Deadline::after(Duration::from_secs(2)) else {
            panic!("no deadline");
        };
        let after = tokio::time::Instant::now();
        // Two seconds kept to answer.
        assert!(at >= before + Duration::from_secs(58) && at <= after + Duration::from_secs(58));
        // A short budget keeps half for the records.
        assert!(
            short >= before + Duration::from_secs(1) && short <= after + Duration::from_secs(1)
        );
        assert!(
            Deadline::of_invocation(0)
                .0
                .is_some_and(|at| at <= tokio::time::Instant::now()),
            "a past deadline is now"
        );
    }
}
