//! [`BroadcastQueue`] and [`WebhookQueue`] over SQS.

use std::time::Duration;

use aws_sdk_sqs::Client;

use crate::aws::describe;
use crate::backoff::SQS_MAX_VISIBILITY;
use crate::domain::TxMessage;
use crate::ports::{BroadcastQueue, NotQueued, QueueError, Redelivery, WebhookQueue};
use crate::webhooks::DeliveryMessage;

/// SQS refuses delays over 15 minutes.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    /// Other queues the same consumer reads (the priority queue), for redelivery control.
    siblings: Vec<String>,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
            siblings: Vec::new(),
        }
    }

    /// Also controls redelivery of messages that came from `queue_url`.
    pub fn with_sibling(mut self, queue_url: impl Into<String>) -> Self {
        self.siblings.push(queue_url.into());
        self
    }

    /// The URL of the queue a delivery came from: matched by name (an ARN's last part is the
    /// queue name, as is a URL's).
    fn url_for(&self, queue_arn: Option<&str>) -> &str {
        let name = queue_arn.and_then(|arn| arn.rsplit(':').next());
        name.and_then(|name| {
            self.siblings
                .iter()
                .find(|url| url.rsplit('/').next() == Some(name))
        })
        .map_or(self.queue_url.as_str(), String::as_str)
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

/// A `SendMessageBatch` holds at most 10 messages and 256 KB.
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;

impl WebhookQueue for SqsQueue {
    async fn queue_deliveries(
        &self,
        messages: &[DeliveryMessage],
    ) -> Result<Vec<(usize, String)>, NotQueued> {
        let bodies = messages
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| NotQueued {
                first: 0,
                error: QueueError::Rejected(e.to_string()),
            })?;
        let mut refused = Vec::new();
        // Batches of message indexes, each within SQS's entries and bytes.
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let mut bytes = 0;
        for (i, body) in bodies.iter().enumerate() {
            if body.len() > BATCH_BYTES {
                refused.push((
                    i,
                    format!("a message of {} bytes is over SQS's 256 KB", body.len()),
                ));
                continue;
            }
            match batches.last_mut() {
                Some(batch) if batch.len() < BATCH_ENTRIES && bytes + body.len() <= BATCH_BYTES => {
                    bytes += body.len();
                    batch.push(i);
                }
                _ => {
                    bytes = body.len();
                    batches.push(vec![i]);
                }
            }
        }
        for batch in batches {
            // Batches go in order: a failure leaves those before it queued.
            let first = batch.first().copied().unwrap_or_default();
            let failed = |error| NotQueued { first, error };
            let entries = batch
                .iter()
                .map(|&i| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(bodies[i].as_str())
                        .build()
                        .map_err(|e| failed(QueueError::Rejected(e.to_string())))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| failed(QueueError::Unavailable(describe(&e))))?;
            let mut unsent = 0;
            for entry in &sent.failed {
                let why = entry.message.clone().unwrap_or_else(|| entry.code.clone());
                match entry.id.parse::<usize>() {
                    // The message itself is refused: sending it again changes nothing.
                    Ok(i) if entry.sender_fault => refused.push((i, why)),
                    _ => unsent += 1,
                }
            }
            if unsent > 0 {
                return Err(failed(QueueError::Unavailable(format!(
                    "{unsent} of {} webhook deliveries were not queued",
                    batch.len()
                ))));
            }
        }
        Ok(refused)
    }
}

impl Redelivery for SqsQueue {
    async fn redeliver_after(
        &self,
        queue_arn: Option<&str>,
        receipt_handle: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(self.url_for(queue_arn))
            .receipt_handle(receipt_handle)
            .visibility_timeout(delay.min(SQS_MAX_VISIBILITY).as_secs() as i32)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(describe(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivery_goes_to_the_queue_the_message_came_from() {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .build();
        let queue = SqsQueue::new(Client::from_conf(config), "http://sqs/000000000000/tx-sign")
            .with_sibling("http://sqs/000000000000/tx-sign-priority");
        assert_eq!(
            queue.url_for(Some("arn:aws:sqs:us-east-1:000000000000:tx-sign-priority")),
            "http://sqs/000000000000/tx-sign-priority"
        );
        assert_eq!(
            queue.url_for(Some("arn:aws:sqs:us-east-1:000000000000:tx-sign")),
            "http://sqs/000000000000/tx-sign"
        );
        assert_eq!(queue.url_for(None), "http://sqs/000000000000/tx-sign");
    }
}
