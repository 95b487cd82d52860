//! [`BroadcastQueue`] over SQS.

use std::time::Duration;

use aws_sdk_sqs::Client;

use crate::aws::describe;
use crate::backoff::SQS_MAX_VISIBILITY;
use crate::domain::TxMessage;
use crate::ports::{BroadcastQueue, QueueError, Redelivery};

/// SQS refuses delays over 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl BroadcastQueue for SqsQueue {
    async fn enqueue(&self, msg: &TxMessage, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(msg).map_err(|e| QueueError::Rejected(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay.min(MAX_DELAY).as_secs() as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(describe(&e)))
    }
}

impl Redelivery for SqsQueue {
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.min(SQS_MAX_VISIBILITY).as_secs() as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(describe(&e)))
    }
}
