//! What a consumer does with a failure that may pass: schedule the next attempt with backoff,
//! or, on the queue's last delivery, hand the transaction to a human.

use time::OffsetDateTime;

use crate::backoff::Backoff;
use crate::batch::RetryLater;
use crate::domain::TxId;
use crate::ports::{RetryRecord, TransactionStore};

/// Records the failed attempt and returns how the record must be redelivered.
///
/// On the last delivery the transaction becomes `needs_review` and the record is released at
/// once, so SQS's redrive policy moves the message to the dead-letter queue.
pub async fn schedule_retry<S: TransactionStore>(
    store: &S,
    backoff: &Backoff,
    id: TxId,
    attempt: u32,
    reason: &str,
) -> RetryLater {
    if backoff.is_last(attempt) {
        let verdict = format!("gave up after {attempt} attempts: {reason}");
        if let Err(e) = store.record_needs_review(id, &verdict).await {
            tracing::warn!(error = %e, "could not mark the transaction as needing review");
        }
        tracing::error!(attempt, %reason, "attempts exhausted; the message goes to the dead-letter queue");
        return RetryLater::after(verdict, std::time::Duration::ZERO);
    }
    let delay = backoff.delay(attempt, rand::random::<f64>());
    let record = RetryRecord {
        reason: reason.to_owned(),
        attempt,
        next_attempt_at: OffsetDateTime::now_utc() + delay.delay,
        backoff_ceiling: delay.ceiling,
    };
    if let Err(e) = store.record_retry(id, &record).await {
        tracing::warn!(error = %e, "could not record the retry");
    }
    tracing::warn!(attempt, delay_seconds = delay.delay.as_secs(), %reason, "attempt failed; retrying later");
    RetryLater::after(reason, delay.delay)
}
