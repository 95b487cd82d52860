//! What the emulator itself allows: raw request rates with the functions' own SDK
//! configuration, measured in the same run as the pipeline, so the pipeline's throughput can be
//! read as a fraction of it.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use devstack::Names;
use tokio::sync::Mutex;

use crate::BenchError;
use crate::metering::Counts;
use crate::pipeline::unique_prefix;

/// One operation's rate.
#[derive(Debug, Clone)]
pub struct OpRate {
    pub service: &'static str,
    pub operation: &'static str,
    pub requests: u64,
    /// Messages or items per request (ReceiveMessage returns up to 10).
    pub items: u64,
    pub elapsed: Duration,
}

impl OpRate {
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// The emulator's measured rates.
#[derive(Debug, Clone, Default)]
pub struct Ceiling {
    pub workers: usize,
    pub rates: Vec<OpRate>,
}

impl Ceiling {
    fn rate(&self, operation: &str) -> Option<f64> {
        self.rates
            .iter()
            .find(|r| r.operation == operation)
            .map(OpRate::per_second)
            .filter(|r| *r > 0.0)
    }

    /// The measured rate that stands for a `(service, operation)` the pipeline makes, and
    /// which measured operation it is.
    pub fn stand_in(&self, service: &str, operation: &str) -> Option<(&'static str, f64)> {
        let measured: &'static str = match (service, operation) {
            ("DynamoDB", "GetItem" | "Query" | "BatchGetItem") => "GetItem",
            ("DynamoDB", "PutItem") => "PutItem",
            ("DynamoDB", _) => "UpdateItem",
            ("SQS", "ReceiveMessage") => "ReceiveMessage",
            ("SQS", "DeleteMessage" | "DeleteMessageBatch") => "DeleteMessage",
            ("SQS", _) => "SendMessage",
            ("SNS", _) => "Publish",
            ("KMS", _) => "Sign",
            _ => return None,
        };
        // A transaction writes two items: it costs the emulator about two updates.
        let weight = if operation == "TransactWriteItems" {
            2.0
        } else {
            1.0
        };
        self.rate(measured).map(|r| (measured, r / weight))
    }

    /// Seconds of emulator capacity one transaction needs, given its requests: the emulator
    /// serves all of them with the same process.
    pub fn seconds_per_transaction(
        &self,
        per_transaction: &BTreeMap<(String, String), f64>,
    ) -> f64 {
        per_transaction
            .iter()
            .filter_map(|((service, op), n)| Some(n / self.stand_in(service, op)?.1))
            .sum()
    }
}

/// Runs `call(i)` for `i` in `0..requests` on `workers` concurrent workers. `call` answers
/// `Some(items moved)` for a request made, or `None` when there is nothing left to do (that
/// worker stops). Returns the time taken, the requests made and the items moved.
async fn hammer<F, Fut>(
    requests: u64,
    workers: usize,
    call: F,
) -> Result<(Duration, u64, u64), BenchError>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Option<u64>, BenchError>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let made = Arc::new(AtomicU64::new(0));
    let items = Arc::new(AtomicU64::new(0));
    let call = Arc::new(call);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (next, made, items, call) = (next.clone(), made.clone(), items.clone(), call.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return Ok::<(), BenchError>(());
                }
                match call(i).await? {
                    Some(n) => {
                        made.fetch_add(1, Ordering::Relaxed);
                        items.fetch_add(n, Ordering::Relaxed);
                    }
                    None => return Ok(()),
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Failed(format!("worker: {e}")))??;
    }
    Ok((
        started.elapsed(),
        made.load(Ordering::Relaxed),
        items.load(Ordering::Relaxed),
    ))
}

fn aws<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> BenchError {
    move |e| BenchError::Aws(format!("{what}: {e:?}"))
}

/// Measures SendMessage, ReceiveMessage, DeleteMessage, PutItem, GetItem, UpdateItem, Publish
/// and KMS Sign with `workers` concurrent callers, `requests` calls each.
pub async fn measure(
    sdk: &SdkConfig,
    anvil_url: &str,
    requests: u64,
    workers: usize,
) -> Result<Ceiling, BenchError> {
    let names = Names::new(unique_prefix("ceiling"));
    let p = devstack::provision(sdk, &names, anvil_url, devstack::default_target(), 10).await?;
    // The functions' own client configuration (timeouts, retries, the counting interceptor).
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let sns = aws_sdk_sns::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);
    let body = r#"{"transaction_id":"0190f0c4-7a1e-7000-8000-000000000000","receipt_checks":1}"#;
    let mut rates = Vec::new();
    let mut record = |service, operation, (elapsed, requests, items): (Duration, u64, u64)| {
        rates.push(OpRate {
            service,
            operation,
            requests,
            items,
            elapsed,
        })
    };

    let (client, url) = (sqs.clone(), p.broadcast_queue_url.clone());
    let sent = hammer(requests, workers, move |_| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            client
                .send_message()
                .queue_url(url)
                .message_body(body)
                .send()
                .await
                .map_err(aws("SendMessage"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("SQS", "SendMessage", sent);

    // Receive until every message sent is in hand (at most as many calls as were sent).
    let handles = Arc::new(Mutex::new(Vec::new()));
    let (client, url, kept) = (sqs.clone(), p.broadcast_queue_url.clone(), handles.clone());
    let received = hammer(requests, workers, move |_| {
        let (client, url, kept) = (client.clone(), url.clone(), kept.clone());
        async move {
            if kept.lock().await.len() as u64 >= requests {
                return Ok(None);
            }
            let out = client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .visibility_timeout(600)
                .send()
                .await
                .map_err(aws("ReceiveMessage"))?;
            let got: Vec<String> = out
                .messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.receipt_handle)
                .collect();
            let n = got.len() as u64;
            kept.lock().await.extend(got);
            Ok(Some(n))
        }
    })
    .await?;
    record("SQS", "ReceiveMessage", received);

    let handles: Arc<Vec<String>> = Arc::new(std::mem::take(&mut *handles.lock().await));
    let deletes = handles.len() as u64;
    let (client, url, all) = (sqs.clone(), p.broadcast_queue_url.clone(), handles.clone());
    let deleted = hammer(deletes, workers, move |i| {
        let (client, url, all) = (client.clone(), url.clone(), all.clone());
        async move {
            let Some(handle) = all.get(i as usize) else {
                return Ok(None);
            };
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(aws("DeleteMessage"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("SQS", "DeleteMessage", deleted);

    let (client, table) = (dynamo.clone(), p.table_name.clone());
    let put = hammer(requests, workers, move |i| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            client
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(format!("BENCH#{i}")))
                .item("data", AttributeValue::S("0x1c41742f".repeat(16)))
                .item("attempts", AttributeValue::N("0".into()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
                .map_err(aws("PutItem"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("DynamoDB", "PutItem", put);

    let (client, table) = (dynamo.clone(), p.table_name.clone());
    let got = hammer(requests, workers, move |i| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(format!("BENCH#{i}")))
                .consistent_read(true)
                .send()
                .await
                .map_err(aws("GetItem"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("DynamoDB", "GetItem", got);

    let (client, table) = (dynamo.clone(), p.table_name.clone());
    let updated = hammer(requests, workers, move |i| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            client
                .update_item()
                .table_name(table)
                .key("pk", AttributeValue::S(format!("BENCH#{i}")))
                .update_expression("SET attempts = attempts + :one")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await
                .map_err(aws("UpdateItem"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("DynamoDB", "UpdateItem", updated);

    let (client, topic) = (sns.clone(), p.topic_arn.clone());
    let published = hammer(requests, workers, move |_| {
        let (client, topic) = (client.clone(), topic.clone());
        async move {
            client
                .publish()
                .topic_arn(topic)
                .message(body)
                .send()
                .await
                .map_err(aws("Publish"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("SNS", "Publish", published);

    let signs = (requests / 4).max(1);
    let (client, key) = (kms.clone(), p.kms_key_id.clone());
    let signed = hammer(signs, workers, move |_| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            client
                .sign()
                .key_id(key)
                .message(Blob::new([7u8; 32]))
                .message_type(MessageType::Digest)
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await
                .map_err(aws("Sign"))?;
            Ok(Some(1))
        }
    })
    .await?;
    record("KMS", "Sign", signed);

    Ok(Ceiling { workers, rates })
}

/// Requests per transaction from a sample's counts.
pub fn per_transaction(counts: &Counts, transactions: u64) -> BTreeMap<(String, String), f64> {
    counts
        .iter()
        .map(|(k, n)| (k.clone(), *n as f64 / transactions.max(1) as f64))
        .collect()
}
