//! Webhooks end to end, on the emulator and anvil: a client's receiver on this machine hears
//! its transaction's events, signed with its secret, at least once; a receiver that keeps
//! failing is retried with backoff to the last attempt and the message kept in the webhook
//! dead-letter queue, while the pipeline carries on; every attempt is in the transaction's
//! delivery log; an operator re-delivers.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::Address;
use axum::http::{HeaderMap, StatusCode};
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data, poll_until};
use serde_json::Value;
use tx_broadcaster_client::{Client, Credentials, NewWebhook, webhook};

/// A receiver on this machine: what it was sent (signature header, body), answering `status`.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<(String, String)>>>,
}

impl Receiver {
    async fn start(status: u16) -> Receiver {
        let status = Arc::new(AtomicU16::new(status));
        let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let (answer, kept) = (status.clone(), received.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (answer, kept) = (answer.clone(), kept.clone());
                async move {
                    let signature = headers
                        .get(webhook::SIGNATURE_HEADER)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    kept.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((signature, body));
                    StatusCode::from_u16(answer.load(Ordering::SeqCst))
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let address = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}/hook"),
            status,
            received,
        }
    }

    /// The bodies received about transaction `id`, parsed, with their signature headers.
    fn about(&self, id: &str) -> Vec<(String, String, Value)> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(signature, body)| {
                let parsed: Value = serde_json::from_str(body).ok()?;
                (parsed["transaction"]["transaction_id"] == id)
                    .then(|| (signature.clone(), body.clone(), parsed))
            })
            .collect()
    }

    fn types_about(&self, id: &str) -> Vec<String> {
        self.about(id)
            .iter()
            .map(|(_, _, body)| body["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Whether the README's Python verification snippet, run as written, accepts `body` signed as
/// `header` with `secret`.
fn readme_snippet_accepts(header: &str, body: &str, secret: &str) -> bool {
    use std::io::Write;
    let readme = include_str!("../README.md");
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("the README has no Python verification snippet"));
    let program = format!(
        "{snippet}\nimport json, sys\nargs = json.load(sys.stdin)\n\
         sys.exit(0 if verify(args['header'], args['body'].encode(), [args['secret']]) else 1)\n"
    );
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(program)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e}"));
    let input = serde_json::json!({ "header": header, "body": body, "secret": secret });
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.to_string().as_bytes());
    }
    child.wait().is_ok_and(|status| status.success())
}

fn operator(stack: &TestStack) -> Client {
    Client::new(
        integration_tests::http_client(),
        &stack.api_url,
        Credentials::Bearer(stack.admin_token.clone()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clients_endpoint_hears_each_event_of_its_transaction_signed_and_an_operator_redelivers()
{
    let stack = TestStack::start_with("webhooks", devstack::RunnerOptions::default(), 1).await;
    let receiver = Receiver::start(200).await;
    let created = stack
        .client
        .create_webhook(&NewWebhook::new(
            &receiver.url,
            &["accepted", "broadcast", "confirmed"],
        ))
        .await
        .unwrap_or_else(|e| panic!("registering: {e}"));
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x77), 7))
        .await;
    stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    let heard = poll_until(Duration::from_secs(60), || async {
        let types = receiver.types_about(&id);
        ["accepted", "broadcast", "confirmed"]
            .iter()
            .all(|t| types.iter().any(|seen| seen == t))
    })
    .await;
    assert!(heard, "heard only {:?}", receiver.types_about(&id));
    let deliveries = receiver.about(&id);
    for (signature, body, parsed) in &deliveries {
        assert_eq!(
            webhook::verify(signature, body.as_bytes(), &[&created.secret], now(), 300),
            Ok(()),
            "{body}"
        );
        // Anyone can post to the endpoint: another secret verifies nothing.
        assert!(webhook::verify(signature, body.as_bytes(), &["whsec_other"], now(), 300).is_err());
        assert!(parsed["id"].as_str().is_some_and(|e| e.starts_with("evt_")));
    }
    // The README's snippet verifies a real delivery, and refuses it under another secret.
    let (signature, body, _) = &deliveries[0];
    assert!(readme_snippet_accepts(signature, body, &created.secret));
    assert!(!readme_snippet_accepts(signature, body, "whsec_other"));
    let confirmed = deliveries
        .iter()
        .find(|(_, _, body)| body["type"] == "confirmed")
        .map(|(_, _, body)| body.clone())
        .unwrap_or_default();
    assert_eq!(confirmed["transaction"]["status"], "confirmed");
    assert!(confirmed["transaction"]["tx_hash"].is_string());

    // The log shows each event and its delivery, to its client and to operators.
    let log = stack
        .client
        .deliveries(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = log.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["accepted", "broadcast", "confirmed"], "{log:?}");
    assert!(
        log.events
            .iter()
            .all(|e| e.endpoint_ids == [created.endpoint.id.clone()])
    );
    assert!(
        poll_until(Duration::from_secs(10), || async {
            stack.client.deliveries(&id).await.is_ok_and(|log| {
                log.attempts.len() >= 3
                    && log.attempts.iter().all(|a| {
                        a.outcome == "delivered" && a.status_code == Some(200) && a.attempt == 1
                    })
            })
        })
        .await,
        "the log's attempts: {:?}",
        stack.client.deliveries(&id).await
    );
    let operator = operator(&stack);
    assert_eq!(
        operator.deliveries(&id).await.map(|l| l.events.len()).ok(),
        Some(3)
    );

    // An operator re-delivers one event: the endpoint hears it again, the same id and body.
    let event = log.events[2].id.clone();
    let before = receiver.about(&id).len();
    let redelivered = operator
        .redeliver(&id, Some(&event))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((redelivered.events, redelivered.deliveries), (1, 1));
    assert!(
        poll_until(Duration::from_secs(30), || async {
            receiver.about(&id).len() > before
        })
        .await
    );
    let again = receiver.about(&id);
    let repeated: Vec<_> = again
        .iter()
        .filter(|(_, _, body)| body["id"] == event.as_str())
        .map(|(_, body, _)| body.clone())
        .collect();
    assert_eq!(repeated.len(), 2, "{repeated:?}");
    assert_eq!(repeated[0], repeated[1]);
    // The log tells the operator's re-delivery apart.
    assert!(
        poll_until(Duration::from_secs(10), || async {
            stack.client.deliveries(&id).await.is_ok_and(|log| {
                log.attempts
                    .iter()
                    .any(|a| a.redelivery && a.event_id == event && a.outcome == "delivered")
            })
        })
        .await
    );
    // A client can't.
    assert!(matches!(
        stack.client.redeliver(&id, None).await,
        Err(tx_broadcaster_client::Error::Api { status: 403, .. })
    ));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_endpoint_is_retried_with_backoff_to_its_last_attempt_and_the_pipeline_goes_on() {
    let stack =
        TestStack::start_with("webhooks-failing", devstack::RunnerOptions::default(), 1).await;
    let receiver = Receiver::start(500).await;
    stack
        .client
        .create_webhook(&NewWebhook::new(&receiver.url, &["accepted"]))
        .await
        .unwrap_or_else(|e| panic!("registering: {e}"));
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x78), 8))
        .await;
    // The pipeline does not wait for the endpoint.
    stack
        .wait_for_status(&id, "confirmed", Duration::from_secs(60))
        .await;
    let attempts = devstack::WEBHOOK_MAX_ATTEMPTS as usize;
    let gave_up = poll_until(Duration::from_secs(120), || async {
        stack
            .client
            .deliveries(&id)
            .await
            .is_ok_and(|log| log.attempts.iter().any(|a| a.outcome == "gave_up"))
    })
    .await;
    let log = stack
        .client
        .deliveries(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(gave_up, "no last attempt: {log:?}");
    let seen: Vec<(u32, &str)> = log
        .attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str()))
        .collect();
    let expected: Vec<(u32, &str)> = (1..=attempts as u32)
        .map(|n| {
            (
                n,
                if n as usize == attempts {
                    "gave_up"
                } else {
                    "failed"
                },
            )
        })
        .collect();
    assert_eq!(seen, expected);
    assert!(
        log.attempts.iter().all(|a| a.status_code == Some(500)
            && a.error.as_deref() == Some("the endpoint answered 500"))
    );
    assert_eq!(receiver.about(&id).len(), attempts);
    // Backed off: the attempts spread over at least the first retries' floor (1 s each, SQS's
    // least delay), not fired at once.
    let at = |i: usize| {
        time::OffsetDateTime::parse(
            &log.attempts[i].at,
            &time::format_description::well_known::Rfc3339,
        )
        .map(|t| t.unix_timestamp())
        .unwrap_or_default()
    };
    assert!(at(attempts - 1) - at(0) >= (attempts as i64 - 1), "{log:?}");
    // The message is kept in the webhook dead-letter queue (alarmed on AWS).
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let kept = poll_until(Duration::from_secs(60), || async {
        sqs.get_queue_attributes()
            .queue_url(&stack.provisioned.webhook_dlq_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .ok()
            .and_then(|out| {
                out.attributes?
                    .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)?
                    .parse::<u64>()
                    .ok()
            })
            .is_some_and(|n| n >= 1)
    })
    .await;
    assert!(
        kept,
        "the last failed message is not in the dead-letter queue"
    );
    // Once the endpoint works again, an operator's re-delivery reaches it.
    receiver.status.store(200, Ordering::SeqCst);
    let redelivered = operator(&stack)
        .redeliver(&id, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((redelivered.events, redelivered.deliveries), (1, 1));
    assert!(
        poll_until(Duration::from_secs(30), || async {
            stack
                .client
                .deliveries(&id)
                .await
                .is_ok_and(|log| log.attempts.iter().any(|a| a.outcome == "delivered"))
        })
        .await
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_whose_endpoints_do_not_read_holds_back_no_other_change() {
    let (good_key, bad_key) = ("good-client-key-0123456789", "bad-client-key-0123456789a");
    let keys = tx_shared::auth::ApiKeys::parse(&format!("good:{good_key},bad:{bad_key}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let options = devstack::RunnerOptions {
        api_keys: keys,
        ..devstack::RunnerOptions::default()
    };
    let stack = TestStack::start_with("webhooks-corrupt", options, 1).await;
    let as_client = |key: &str| {
        Client::new(
            integration_tests::http_client(),
            &stack.api_url,
            Credentials::ApiKey(key.into()),
        )
    };
    let (good, bad) = (as_client(good_key), as_client(bad_key));
    let (good_receiver, bad_receiver) = (Receiver::start(200).await, Receiver::start(200).await);
    for (client, receiver) in [(&good, &good_receiver), (&bad, &bad_receiver)] {
        client
            .create_webhook(&NewWebhook::new(&receiver.url, &["accepted"]))
            .await
            .unwrap_or_else(|e| panic!("registering: {e}"));
    }
    // The bad client's endpoints, as a release that wrote them in another shape left them.
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .put_item()
        .table_name(&stack.provisioned.webhook_table_name)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("HOOKS#bad".into()),
        )
        .item(
            "endpoints",
            aws_sdk_dynamodb::types::AttributeValue::S("[{\"id\": 7}]".into()),
        )
        .item(
            "version",
            aws_sdk_dynamodb::types::AttributeValue::N("2".into()),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let listed = bad.webhooks().await;
    assert!(
        matches!(
            &listed,
            Err(tx_broadcaster_client::Error::Api { status: 503, .. })
        ),
        "{listed:?}"
    );
    let request = tx_broadcaster_client::BroadcastRequest::new(
        ADD_WEIGHT,
        add_weight_data(Address::repeat_byte(0x79), 9),
    );
    let dropped = bad
        .broadcast(&request, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .transaction_id;
    let after = good
        .broadcast(&request, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .transaction_id;
    // The good client's event, later on the stream, is delivered: the fan-out got past the
    // record it could do nothing with.
    assert!(
        poll_until(Duration::from_secs(60), || async {
            !good_receiver.about(&after).is_empty()
        })
        .await,
        "the fan-out did not get past a client whose endpoints did not read"
    );
    assert!(bad_receiver.about(&dropped).is_empty());
    assert!(
        bad.deliveries(&dropped)
            .await
            .is_ok_and(|log| log.events.is_empty() && log.attempts.is_empty())
    );
    stack.stop().await;
}
