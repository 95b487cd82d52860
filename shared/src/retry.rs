//! What a consumer does with a failure that may pass: schedule the next attempt with backoff,
//! or, on the queue's last delivery, hand the transaction to a human.

use time::OffsetDateTime;

use crate::backoff::Backoff;
use crate::batch::RetryLater;
use crate::domain::TxMessage;
use crate::ports::{BroadcastQueue, RetryRecord, Transitions};

/// The longest wait one message can carry (SQS's largest `DelaySeconds`).
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(900);

/// Records the failed attempt and returns how the record must be redelivered.
///
/// On the last delivery the transaction becomes `needs_review` and the record is released at
/// once, so SQS's redrive policy moves the message to the dead-letter queue.
pub async fn schedule_retry<S: Transitions>(
    store: &S,
    backoff: &Backoff,
    message: &TxMessage,
    attempt: u32,
    reason: &str,
) -> RetryLater {
    let id = message.transaction_id;
    if backoff.is_last(attempt) {
        let verdict = format!("gave up after {attempt} attempts: {reason}");
        if let Err(e) = store
            .record_needs_review(id, &verdict, message.generation)
            .await
        {
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

/// Parks a transaction that waits for something outside it (the signer's funds, fees to fall
/// below the cap): a fresh message on `queue` after `delay`, so the wait does not use up the
/// redrive policy's deliveries, and the transaction `retrying` with the reason. Only if the
/// fresh message can't be sent does the current one come back instead.
pub async fn wait_for<S: Transitions, Q: BroadcastQueue>(
    store: &S,
    queue: &Q,
    message: &TxMessage,
    reason: &str,
    delay: std::time::Duration,
) -> Result<(), RetryLater> {
    let delay = delay.min(MAX_WAIT);
    let next_attempt_at = OffsetDateTime::now_utc() + delay;
    match store
        .record_wait(
            message.transaction_id,
            reason,
            next_attempt_at,
            message.generation,
        )
        .await
    {
        Ok(()) => {}
        // Final, under review, or retried by an operator since: this message's chain ends.
        Err(crate::ports::StoreError::Conflict { .. }) => {
            tracing::info!("the transaction moved on; this waiting message is dropped");
            return Ok(());
        }
        // Keep the message alive: the wait is still right, only its record is missing.
        Err(e) => tracing::warn!(error = %e, "could not record the wait"),
    }
    crate::metrics::waiting(reason);
    match queue.enqueue(message, delay).await {
        Ok(()) => {
            tracing::warn!(delay_seconds = delay.as_secs(), %reason, "waiting; the attempt is not counted");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not park the message; it comes back by its visibility timeout");
            Err(RetryLater::after(reason, delay))
        }
    }
}
