//! The node's URL usually carries the provider's API key. Pointed at a URL with a sentinel in
//! its path and its query string, the whole stack answers, stores and logs nothing that contains
//! either. (Its own test binary: it captures every log line of the process.)

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::Address;
use devstack::RunnerOptions;
use integration_tests::{TestStack, free_port};
use tx_shared::backoff::Backoff;

const PATH_SENTINEL: &str = "PATHSENTINEL7f3a91";
const QUERY_SENTINEL: &str = "QUERYSENTINEL0c5e22";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut lines) = self.0.lock() {
            lines.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_node_urls_secrets_appear_in_no_answer_record_or_log_line() {
    let logs = Captured::default();
    let sink = logs.clone();
    tx_shared::telemetry::init_with(move || sink.clone());

    // Nothing listens there: every node call fails with an error that names the URL.
    let node_url = format!(
        "http://127.0.0.1:{}/v3/{PATH_SENTINEL}?apikey={QUERY_SENTINEL}",
        free_port()
    );
    let options = RunnerOptions {
        node_url: Some(node_url),
        rpc_timeout: Duration::from_secs(2),
        backoff: Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(1), 3)
            .unwrap_or_else(|e| panic!("{e}")),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("secrets", options, 2).await;
    // Failed attempts were recorded with the node's error, then it ended under review, the
    // failure still explained.
    let view = stack
        .submit_until_error(
            Address::repeat_byte(0x53),
            "needs_review",
            "unavailable",
            Duration::from_secs(90),
        )
        .await;
    let id = view["transaction_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut seen = vec![view.to_string()];
    for path in [
        "/transactions?limit=100".to_owned(),
        format!("/transactions?q={id}"),
        "/transactions/stats".to_owned(),
    ] {
        seen.push(stack.get(&path).await.1.to_string());
    }
    let retry = stack
        .http
        .post(format!("{}/admin/transactions/{id}/retry", stack.api_url))
        .bearer_auth(&stack.admin_token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    seen.push(retry.text().await.unwrap_or_default());
    seen.push(stack.transaction(&id).await.to_string());
    stack.stop().await;

    let logged = logs
        .0
        .lock()
        .map(|lines| String::from_utf8_lossy(&lines).into_owned())
        .unwrap_or_default();
    assert!(
        logged.contains(&id),
        "the logs were captured (they name the transaction)"
    );
    seen.push(logged);
    for text in &seen {
        for sentinel in [PATH_SENTINEL, QUERY_SENTINEL] {
            assert!(
                !text.contains(sentinel),
                "`{sentinel}` leaked: {}",
                excerpt(text, sentinel)
            );
        }
        assert!(
            !text.contains("127.0.0.1:") || !text.contains("/v3/"),
            "the node URL leaked: {}",
            excerpt(text, "/v3/")
        );
    }
}

fn excerpt<'a>(text: &'a str, needle: &str) -> &'a str {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(200)
        .map_or(0, |(i, _)| i);
    let end = text[at..]
        .char_indices()
        .nth(200)
        .map_or(text.len(), |(i, _)| at + i);
    &text[start..end]
}
