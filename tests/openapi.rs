//! A real client checks the OpenAPI document: schemathesis (PyPI, pinned in
//! `scripts/stack.sh`, installed into `.tools/schemathesis` by `make test`) generates requests
//! from the test stack's own `/openapi.json`, valid and invalid, a bounded number per
//! operation, as a client and as an operator, and fails on any 5xx, any answer the document
//! does not describe (status, content type, body), and anything accepted that the document
//! forbids.

use std::process::Command;

use devstack::RunnerOptions;
use integration_tests::TestStack;

/// Requests per operation and mode: enough to reach every documented error, few enough for CI.
const EXAMPLES: &str = "40";

/// What schemathesis checks (the issue's: no 5xx, every answer conforms, nothing accepted that
/// the document forbids).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,\
                      negative_data_rejection,missing_required_header,unsupported_method";

fn seed() -> String {
    std::env::var("SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".into())
}

fn schemathesis(api: &str, credentials: &str, only: &[&str]) -> (bool, String) {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let bin = format!("{root}/.tools/schemathesis/bin/schemathesis");
    assert!(
        std::path::Path::new(&bin).exists(),
        "schemathesis is missing: run `scripts/stack.sh tools schemathesis` (make test does)"
    );
    let mut command = Command::new(bin);
    command
        .arg("run")
        .arg(format!("{api}/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", EXAMPLES])
        .args(["--request-timeout", "20"])
        // One worker: with two, hypothesis's lambda introspection parses source with `ast` from
        // two threads at once, which CPython 3.11 can fail ("AST constructor recursion depth
        // mismatch"), a runtime error of the tool's own that failed a CI run.
        .args(["--workers", "1"])
        .args(["--header", credentials])
        .args(["--generation-database", "none"])
        // One seed, so a run in CI is the run anyone can repeat; `SCHEMATHESIS_SEED=<n>`
        // explores others (a failure prints its seed and a `curl` to reproduce it).
        .args(["--seed", &seed()])
        .args(["--no-color", "--output-truncate", "false"])
        .current_dir(format!("{root}/target"));
    for operation in only {
        command.args(["--include-operation-id", operation]);
    }
    let run = command
        .output()
        .unwrap_or_else(|e| panic!("running schemathesis: {e}"));
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run.status.success(), output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_no_answer_outside_the_document() {
    let keys = tx_shared::auth::ApiKeys::generate_local();
    let client_key = keys.first_key().unwrap_or_default().to_owned();
    let token = "openapi-admin-token";
    let options = RunnerOptions {
        api_keys: keys,
        admin_token: token.into(),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("openapi", options, 1).await;
    // Credentials that work, or every answer would be a documented 401 or 403 and the run
    // would check little.
    assert!(!client_key.is_empty());
    stack
        .client
        .stats(None)
        .await
        .unwrap_or_else(|e| panic!("the client's key is refused: {e}"));
    let operator = tx_broadcaster_client::Client::new(
        integration_tests::http_client(),
        &stack.api_url,
        tx_broadcaster_client::Credentials::Bearer(token.into()),
    );
    operator
        .stats(None)
        .await
        .unwrap_or_else(|e| panic!("the operator's token is refused: {e}"));
    operator
        .timeline(None)
        .await
        .unwrap_or_else(|e| panic!("the operator's timeline: {e}"));
    // A transaction to find: the listing and the stateful phase follow it to the show route.
    stack
        .submit(
            integration_tests::ADD_WEIGHT,
            &integration_tests::add_weight_data(alloy::primitives::Address::repeat_byte(0x5a), 1),
        )
        .await;
    let api = stack.api_url.clone();
    let runs = tokio::task::spawn_blocking(move || {
        [
            // A client: everything but the operators' routes.
            schemathesis(
                &api,
                &format!("x-api-key: {client_key}"),
                &[
                    "broadcast",
                    "list_transactions",
                    "show_transaction",
                    "transaction_stats",
                    "health",
                    "openapi",
                    "list_deliveries",
                    "create_webhook",
                    "list_webhooks",
                    "delete_webhook",
                    "rotate_webhook_secret",
                ],
            ),
            // An operator: the reads, the retry and the re-delivery.
            schemathesis(
                &api,
                &format!("Authorization: Bearer {token}"),
                &[
                    "list_transactions",
                    "show_transaction",
                    "transaction_stats",
                    "transaction_timeline",
                    "retry_transaction",
                    "list_deliveries",
                    "redeliver_webhooks",
                ],
            ),
        ]
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    stack.stop().await;
    for (run, (passed, output)) in runs.iter().enumerate() {
        // The whole report, for whoever reads the log; the failures alone in the panic, so a
        // run's closing lines (which is what CI shows) say what failed.
        let report = format!(
            "{}/../target/schemathesis-{run}.log",
            env!("CARGO_MANIFEST_DIR")
        );
        let _ = std::fs::write(&report, output);
        assert!(
            passed,
            "schemathesis failed (the whole report: {report}):\n{}",
            failures_of(output)
        );
    }
}

/// The failures section of a schemathesis report, at most 60 lines of at most 300 characters
/// (the report is thousands of lines when much fails, and a traceback's line can hold a whole
/// source file).
fn failures_of(report: &str) -> String {
    let lines: Vec<&str> = report.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.contains("FAILURES") || line.contains("ERRORS"))
        .unwrap_or(0);
    lines[start..]
        .iter()
        .take(60)
        .map(|line| line.chars().take(300).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}
