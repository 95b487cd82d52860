//! SQS batches, the way Lambda's event source mapping hands them over: records are processed
//! concurrently and failures are reported per record (`ReportBatchItemFailures`), so one bad
//! record never fails the whole batch.

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use tracing::Instrument;

use crate::domain::TxMessage;

/// One queue message, parsed.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: TxMessage,
    /// `ApproximateReceiveCount`: 1 on the first delivery.
    pub receive_count: u32,
}

/// Why a record must be delivered again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RetryLater(pub String);

/// How many records of one batch run at once.
pub const BATCH_CONCURRENCY: usize = 10;

/// Runs `handle` on every record concurrently and reports the failed ones.
pub async fn process<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
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
                let delivery = parse(&record).map_err(RetryLater)?;
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
                Err(RetryLater(reason)) => {
                    span.in_scope(
                        || tracing::warn!(%reason, "record failed; it will be delivered again"),
                    );
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

fn parse(record: &SqsMessage) -> Result<Delivery, String> {
    let body = record.body.as_deref().ok_or("message has no body")?;
    let message: TxMessage = serde_json::from_str(body)
        .map_err(|e| format!("message body is not a transaction message: {e}"))?;
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    Ok(Delivery {
        message,
        receive_count,
    })
}
