//! Crash: the local runner is killed with SIGKILL in the middle of 100 transactions (the
//! emulator and anvil keep running, as AWS would), and started again. All 100 end confirmed,
//! none twice.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy::primitives::Address;
use futures::StreamExt;
use integration_tests::{
    ADD_WEIGHT, add_weight_data, free_port, poll_until, rpc, rpc_url, unique_prefix,
};
use serde_json::{Value, json};

const CRASH_KEY: &str = "crash-test-key-0123456789";

struct Runner {
    child: Child,
}

impl Runner {
    fn start(prefix: &str, port: u16, log: &std::path::Path) -> Runner {
        let bin = env!("CARGO_BIN_EXE_devstack-under-test");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(bin)
            .arg("run")
            .env("RPC_URL", rpc_url())
            .env("DEV_PREFIX", prefix)
            .env("API_PORT", port.to_string())
            .env("SWEEP_INTERVAL_SECONDS", "2")
            .env("SWEEP_GRACE_SECONDS", "10")
            .env("RUST_LOG", "warn")
            .env("API_KEYS", format!("crash:{CRASH_KEY}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        Runner { child }
    }

    /// `kill -9`: no shutdown, no cleanup, in-flight work lost mid-step.
    fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

async fn healthy(http: &reqwest::Client, api: &str) -> Option<Value> {
    let response = http.get(format!("{api}/health")).send().await.ok()?;
    response.status().is_success().then_some(())?;
    response.json().await.ok()
}

async fn status_of(http: &reqwest::Client, api: &str, id: &str) -> Option<Value> {
    http.get(format!("{api}/transactions/{id}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_runner_mid_flight_loses_and_duplicates_nothing() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()),
        "AWS_ENDPOINT_URL is not set: run through `make test`"
    );
    let prefix = unique_prefix("crash");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let log = std::path::PathBuf::from(format!(
        "{}/../target/{prefix}.log",
        env!("CARGO_MANIFEST_DIR")
    ));
    let http = integration_tests::client_http(
        &tx_shared::auth::ApiKeys::parse(&format!("crash:{CRASH_KEY}"))
            .unwrap_or_else(|e| panic!("{e}")),
    );

    let mut runner = Runner::start(&prefix, port, &log);
    assert!(
        poll_until(Duration::from_secs(120), || async {
            healthy(&http, &api).await.is_some()
        })
        .await,
        "the runner did not come up; see {}",
        log.display()
    );
    let signer: Address = healthy(&http, &api)
        .await
        .and_then(|h| h["signer_address"].as_str()?.parse().ok())
        .unwrap_or_else(|| panic!("no signer address"));

    let ids: Vec<String> = futures::stream::iter(0..100u64)
        .map(|i| {
            let http = &http;
            let api = &api;
            async move {
                let body = json!({ "message_type": ADD_WEIGHT, "data": add_weight_data(Address::repeat_byte(0x99), i) });
                let response = http
                    .post(format!("{api}/transaction/broadcast"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("POST: {e}"));
                assert_eq!(response.status().as_u16(), 200);
                let accepted: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
                accepted["transaction_id"].as_str().unwrap_or_default().to_owned()
            }
        })
        .buffer_unordered(20)
        .collect()
        .await;

    // Kill it while the pipeline is busy: some done, most not.
    let some_done = poll_until(Duration::from_secs(60), || async {
        let mut done = 0;
        for id in ids.iter().take(30) {
            if status_of(&http, &api, id)
                .await
                .is_some_and(|t| t["status"] == "confirmed")
            {
                done += 1;
            }
        }
        done >= 3
    })
    .await;
    assert!(
        some_done,
        "the pipeline never got going; see {}",
        log.display()
    );
    runner.kill_hard();

    let mut runner = Runner::start(&prefix, port, &log);
    assert!(
        poll_until(Duration::from_secs(60), || async {
            healthy(&http, &api).await.is_some()
        })
        .await,
        "the runner did not come back; see {}",
        log.display()
    );
    // By lane (the runner signs with two keys): each lane's nonces distinct and gap-free.
    let mut nonces: std::collections::BTreeMap<String, BTreeSet<u64>> = Default::default();
    for id in &ids {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        let last = loop {
            let last = status_of(&http, &api, id).await.unwrap_or(Value::Null);
            if last["status"] == "confirmed" {
                break last;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{id} was not confirmed after the crash: {last}; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let lane = last["signer_address"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            nonces
                .entry(lane)
                .or_default()
                .insert(last["nonce"].as_u64().unwrap_or(u64::MAX)),
            "nonce used twice on its lane: {last}"
        );
    }
    assert!(
        nonces.contains_key(&signer.to_string()),
        "the first lane signed: {nonces:?}"
    );
    let mut total = 0;
    for (lane, taken) in &nonces {
        let count = taken.len() as u64;
        assert_eq!(
            taken,
            &(0..count).collect::<BTreeSet<u64>>(),
            "{lane}: gap-free"
        );
        let mined = rpc(
            &http,
            &rpc_url(),
            "eth_getTransactionCount",
            json!([lane, "latest"]),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            mined,
            json!(format!("{count:#x}")),
            "{lane}: exactly its transactions were mined, none twice"
        );
        total += count;
    }
    assert_eq!(total, 100);
    runner.kill_hard();
}
