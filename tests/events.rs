//! The sample events in `events/` (used with `cargo lambda invoke --data-file`) are real
//! events that the functions accept.

use std::sync::Mutex;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::sqs::SqsEvent;
use tx_shared::batch;
use tx_shared::validation::{MessageTypePolicy, parse_request, validate_call};

fn read(name: &str) -> String {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_api_sample_is_a_valid_broadcast_request() {
    // What the client REST API hands the api Lambda: the caller is the API key's id.
    let event: lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequest =
        serde_json::from_str(&read("api-broadcast.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        api::gateway_caller(&lambda_http::request::RequestContext::ApiGatewayV1(
            event.request_context.clone()
        )),
        Some(tx_shared::auth::Caller::Client(
            "samplekey1".parse().unwrap_or_else(|e| panic!("{e}"))
        ))
    );
    let body = event.body.unwrap_or_else(|| panic!("no body"));
    let request = parse_request(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let call =
        validate_call(&request, &MessageTypePolicy::allow_all()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(call.function_signature, "add_weight(address,uint256)");
    let health: ApiGatewayV2httpRequest =
        serde_json::from_str(&read("api-health.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(health.raw_path.as_deref(), Some("/health"));
}

#[tokio::test]
async fn the_queue_samples_carry_a_transaction_message() {
    for name in [
        "signer-sqs.json",
        "broadcaster-sqs.json",
        "dead-letter-sqs.json",
    ] {
        let event: SqsEvent =
            serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let seen = Mutex::new(Vec::new());
        let response = batch::process(
            event,
            batch::Deadline::none(),
            &batch::QueueDefault,
            |delivery: tx_shared::batch::Delivery| {
                if let Ok(mut seen) = seen.lock() {
                    seen.push((
                        delivery.message.transaction_id.to_string(),
                        delivery.receive_count,
                    ));
                }
                async { Ok(()) }
            },
        )
        .await;
        assert!(response.batch_item_failures.is_empty(), "{name}");
        let seen = seen.into_inner().unwrap_or_default();
        let receives = if name.starts_with("dead-letter") {
            11
        } else {
            1
        };
        assert_eq!(
            seen,
            vec![("019a0000-0000-7000-8000-000000000001".to_owned(), receives)],
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unparseable_record_fails_alone() {
    let mut event: SqsEvent =
        serde_json::from_str(&read("signer-sqs.json")).unwrap_or_else(|e| panic!("{e}"));
    let mut bad = event.records[0].clone();
    bad.message_id = Some("bad".into());
    bad.body = Some("not json".into());
    event.records.push(bad);
    let response = batch::process(
        event,
        batch::Deadline::none(),
        &batch::QueueDefault,
        |_: tx_shared::batch::Delivery| async { Ok(()) },
    )
    .await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, vec!["bad"]);
}

#[test]
fn the_sweeper_sample_is_a_scheduled_event() {
    let event: serde_json::Value =
        serde_json::from_str(&read("sweeper-schedule.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event["detail-type"], "Scheduled Event");
    assert_eq!(event["source"], "aws.events");
}

#[test]
fn the_retry_samples_are_a_direct_invocation_and_an_admin_request() {
    let direct: serde_json::Value =
        serde_json::from_str(&read("retry-direct.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        direct["transaction_id"]
            .as_str()
            .is_some_and(|id| id.parse::<tx_shared::domain::TxId>().is_ok())
    );
    let http: ApiGatewayV2httpRequest =
        serde_json::from_str(&read("retry-admin-http.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        http.raw_path.as_deref(),
        Some("/admin/transactions/019a0000-0000-7000-8000-000000000001/retry")
    );
}

#[test]
fn the_notifier_samples_name_a_transaction_and_a_connection() {
    let stream: serde_json::Value =
        serde_json::from_str(&read("notifier-stream.json")).unwrap_or_else(|e| panic!("{e}"));
    let batch = match notifier::NotifierEvent::parse(stream) {
        Ok(notifier::NotifierEvent::Stream(batch)) => batch,
        other => panic!("notifier-stream.json is not a stream batch: {other:?}"),
    };
    assert_eq!(notifier::changed_transactions(&batch).len(), 1);
    let connect: serde_json::Value =
        serde_json::from_str(&read("notifier-connect.json")).unwrap_or_else(|e| panic!("{e}"));
    let route = match notifier::NotifierEvent::parse(connect) {
        Ok(notifier::NotifierEvent::Route(route)) => route,
        other => panic!("notifier-connect.json is not a WebSocket route: {other:?}"),
    };
    assert_eq!(route.request_context.route_key.as_deref(), Some("$connect"));
}
