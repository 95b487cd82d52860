//! [`RequestPublisher`] over SNS: the topic fans requests out to the signer's queue.

use aws_sdk_sns::Client;

use crate::aws::describe;
use crate::domain::TxMessage;
use crate::ports::{QueueError, RequestPublisher};

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl RequestPublisher for SnsPublisher {
    async fn publish(&self, msg: &TxMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(msg).map_err(|e| QueueError::Rejected(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| QueueError::Unavailable(describe(&e)))
    }
}
