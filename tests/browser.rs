//! The status page in headless Chromium (Debian's, driven by playwright-core from
//! `tests/browser/status_page.mjs`), against a whole local stack with a transaction that needs
//! review. Screenshots of a failure land in `target/browser/`.

use std::process::Command;
use std::time::Duration;

use alloy::primitives::Address;
use devstack::RunnerOptions;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data};
use rpc_proxy::ProxyConfig;
use tx_shared::backoff::Backoff;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_status_page_is_live_falls_back_to_polling_filters_and_retries() {
    let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    let playwright = format!("{root}/.tools/playwright/node_modules/playwright-core");
    assert!(
        std::path::Path::new(&playwright).exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "playwright-core or chromium is missing: run `scripts/stack.sh tools browser` (make test does)"
    );

    // A node that refuses every send until healed: one transaction ends `needs_review`.
    let proxy = integration_tests::refusing_sends(&integration_tests::rpc_url()).await;
    let token = "browser-admin-token";
    let keys = tx_shared::auth::ApiKeys::generate_local();
    let client_key = keys.first_key().unwrap_or_default().to_owned();
    let options = RunnerOptions {
        api_keys: keys,
        node_url: Some(proxy.url()),
        backoff: Backoff::new(Duration::from_secs(1), 2.0, Duration::from_secs(2), 2)
            .unwrap_or_else(|e| panic!("{e}")),
        admin_token: token.into(),
        ..RunnerOptions::default()
    };
    let stack = TestStack::start_with("browser", options, 2).await;
    let review = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x41), 1))
        .await;
    stack
        .wait_until(&review, Duration::from_secs(60), |tx| {
            tx["status"] == "needs_review" && tx["dead_lettered"] == true
        })
        .await;
    proxy
        .set_config(ProxyConfig::default())
        .unwrap_or_else(|e| panic!("{e}"));

    let run = tokio::task::spawn_blocking({
        let api = stack.api_url.clone();
        let review = review.clone();
        move || {
            Command::new("node")
                .arg("--test")
                .arg("--test-reporter=spec")
                .arg("tests/browser/status_page.mjs")
                .current_dir(&root)
                .env("BASE_URL", api)
                .env("ADMIN_TOKEN", token)
                .env("CLIENT_KEY", client_key)
                .env("REVIEW_ID", review)
                .env("PLAYWRIGHT_CORE", playwright)
                .env("SCREENSHOT_DIR", "target/browser")
                .output()
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("running node: {e}"));
    let output = format!(
        "{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "the browser test failed:\n{output}");
    stack.stop().await;
    proxy.shutdown().await;
}
