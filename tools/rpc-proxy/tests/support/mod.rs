//! A real anvil per test, and small JSON-RPC helpers.
//!
//! anvil is `$ANVIL_BIN`, or the one `make` installs into `.tools/`. Each test starts its own on
//! a free loopback port and kills it when the test ends, even by a panic.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rpc_proxy::{ProxyConfig, ProxyHandle};
use serde_json::{Value, json};

const INSTALLED_ANVIL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../.tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
);

pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Anvil {
    pub async fn start() -> Self {
        let binary = std::env::var_os("ANVIL_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(INSTALLED_ANVIL));
        let port = free_port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start anvil at {} (set ANVIL_BIN, or run `make tools`): {e}",
                    binary.display()
                )
            });
        let anvil = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = client();
        let ready = poll_until(Duration::from_secs(30), || async {
            client
                .post(&anvil.url)
                .json(&request("eth_chainId", json!([]), json!(1)))
                .send()
                .await
                .is_ok_and(|answer| answer.status().is_success())
        })
        .await;
        assert!(ready, "anvil did not answer on {} within 30 s", anvil.url);
        anvil
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port the OS just handed out, so it is free and outside the ports the project reserves.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub async fn start_proxy(anvil: &Anvil, config: ProxyConfig) -> ProxyHandle {
    rpc_proxy::start(&anvil.url, any_port(), config)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(30))
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    tx_shared::tls::reqwest_builder()
        .timeout(timeout)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn request(method: &str, params: Value, id: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// Posts a JSON body; the outer error is the transport's (no HTTP answer at all).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<(StatusCode, Vec<u8>), reqwest::Error> {
    let answer = client.post(url).json(body).send().await?;
    let status = answer.status();
    let bytes = answer.bytes().await?;
    Ok((status, bytes.to_vec()))
}

/// One call that must be answered with HTTP 200 and JSON.
pub async fn call(client: &reqwest::Client, url: &str, method: &str, params: Value) -> Value {
    let (status, body) = post(client, url, &request(method, params, json!(1)))
        .await
        .unwrap_or_else(|e| panic!("{method} got no answer: {e}"));
    assert_eq!(status, StatusCode::OK, "{method}");
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{method} answered non-JSON: {e}"))
}

pub fn hex_u64(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("not a hex quantity: {value}"))
}

/// Polls `check` until it holds or `deadline` passes; says which.
pub async fn poll_until<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let give_up = Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= give_up {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
