//! The pipeline's progress per chain and minute, for the status page's timeline.

use super::*;

/// How long a minute's progress is kept (the table's TTL deletes it after).
const PROGRESS_KEPT_SECONDS: i64 = 2 * 3600;

/// One item per chain and minute: each count `c_<name>`, each time between stages as its sum
/// `s_<name>` and number `n_<name>`, all added to atomically (`ADD`), so the notifier's
/// concurrent batches never lose one another's.
impl crate::ports::ProgressLog for DynamoStore {
    async fn add_progress(
        &self,
        chain_id: u64,
        minute: i64,
        step: &crate::ports::MinuteProgress,
    ) -> Result<(), StoreError> {
        let mut added: Vec<(String, AttributeValue)> = Vec::new();
        for (name, count) in &step.counts {
            added.push((format!("c_{name}"), n(count)));
        }
        for (name, (sum, count)) in &step.seconds {
            added.push((format!("s_{name}"), n(sum)));
            added.push((format!("n_{name}"), n(count)));
        }
        if added.is_empty() {
            return Ok(());
        }
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(progress_pk(chain_id, minute)))
            .expression_attribute_values(":expires", n(minute * 60 + PROGRESS_KEPT_SECONDS));
        let mut adds = Vec::new();
        for (i, (name, value)) in added.into_iter().enumerate() {
            adds.push(format!("#a{i} :a{i}"));
            update = update
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":a{i}"), value);
        }
        // Not retried: an ADD whose answer was lost may have been applied, and adding it again
        // would count it twice (a minute short of one batch is the lesser harm).
        update
            .update_expression(format!("ADD {} SET expires_at = :expires", adds.join(", ")))
            .customize()
            .config_override(
                aws_sdk_dynamodb::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn progress(
        &self,
        chain_id: u64,
        minutes: std::ops::Range<i64>,
    ) -> Result<Vec<(i64, crate::ports::MinuteProgress)>, StoreError> {
        let keys: Vec<std::collections::HashMap<String, AttributeValue>> =
            crate::ports::progress_window(minutes)
                .map(|minute| [("pk".to_owned(), s(progress_pk(chain_id, minute)))].into())
                .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted = Some(
            aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?,
        );
        let mut items = Vec::new();
        // What DynamoDB leaves unprocessed (throttled) is asked again, a few times at most.
        for _ in 0..4 {
            let Some(keys) = wanted.take() else { break };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            wanted = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        if wanted.is_some() {
            return Err(StoreError::Unavailable(
                "the progress of some minutes stayed unread".into(),
            ));
        }
        let mut minutes: Vec<(i64, crate::ports::MinuteProgress)> = items
            .iter()
            .filter_map(|item| {
                let pk: String = parse_attr(item, "pk").ok()?;
                let minute: i64 = pk.rsplit('#').next()?.parse().ok()?;
                let mut step = crate::ports::MinuteProgress::default();
                for (name, value) in item {
                    let AttributeValue::N(number) = value else {
                        continue;
                    };
                    if let Some(count) = name.strip_prefix("c_") {
                        step.counts
                            .insert(count.to_owned(), number.parse().unwrap_or(0));
                    } else if let Some(seconds) = name.strip_prefix("s_") {
                        let measured = match item.get(&format!("n_{seconds}")) {
                            Some(AttributeValue::N(k)) => k.parse().unwrap_or(0),
                            _ => 0,
                        };
                        step.seconds.insert(
                            seconds.to_owned(),
                            (number.parse().unwrap_or(0.0), measured),
                        );
                    }
                }
                Some((minute, step))
            })
            .collect();
        minutes.sort_by_key(|(minute, _)| *minute);
        Ok(minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ProgressLog;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts every attempt the SDK makes.
    #[derive(Debug)]
    struct Attempts(Arc<AtomicUsize>);

    impl aws_smithy_runtime_api::client::interceptors::Intercept for Attempts {
        fn name(&self) -> &'static str {
            "Attempts"
        }

        fn read_before_attempt(
            &self,
            _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
            _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
            _: &mut aws_smithy_types::config_bag::ConfigBag,
        ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_add_whose_answer_is_lost_is_not_sent_again() {
        let attempts = Arc::new(AtomicUsize::new(0));
        // Nothing listens there: every attempt fails as a lost answer would, and the client
        // retries three times where it may.
        // As the functions load theirs (a sleep to wait between attempts with, among others).
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::for_tests())
            .endpoint_url("http://127.0.0.1:9")
            .http_client(crate::sdk_http::client())
            .load()
            .await;
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1)),
            )
            .interceptor(Attempts(attempts.clone()))
            .build();
        let store = DynamoStore::new(Client::from_conf(config), "transactions");
        let step = crate::ports::MinuteProgress {
            counts: [("Confirmed".to_owned(), 1)].into(),
            ..Default::default()
        };
        assert!(store.add_progress(1, 1, &step).await.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
