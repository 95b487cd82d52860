//! Test harness: a whole stack per test, with its own resource names and its own KMS key (so
//! its own signer address and nonce sequence), against the emulator at `AWS_ENDPOINT_URL` and
//! the anvil node at `TEST_RPC_URL`. `make test` starts both on ports of their own.

use std::future::Future;
use std::time::Duration;

use alloy::dyn_abi::{DynSolValue, JsonAbiExt};
use alloy::json_abi::Function;
use alloy::primitives::{Address, U256, hex};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use aws_config::SdkConfig;
use devstack::{Names, Provisioned, RunnerOptions, Running, start};
use serde_json::{Value, json};
use tx_shared::aws::{AwsTimeouts, load_config};

pub mod store_contract;

pub const ADD_WEIGHT: &str = "add_weight(address _addr, uint256 _weight)";

/// Fails loudly when the environment is missing: these tests must never pass by not running.
pub fn rpc_url() -> String {
    std::env::var("TEST_RPC_URL").unwrap_or_else(|_| {
        panic!("TEST_RPC_URL is not set: run the integration tests through `make test`, which starts anvil")
    })
}

fn require_emulator() {
    if std::env::var("AWS_ENDPOINT_URL").map_or(true, |v| v.is_empty()) {
        panic!(
            "AWS_ENDPOINT_URL is not set: run the integration tests through `make test`, which starts the emulator"
        );
    }
}

pub struct TestStack {
    pub sdk: SdkConfig,
    pub provisioned: Provisioned,
    pub names: Names,
    pub running: Option<Running>,
    pub http: reqwest::Client,
    pub node: RootProvider,
    pub api_url: String,
    /// The operators' bearer token of this stack's runner.
    pub admin_token: String,
    /// The clients' keys of this stack's runner (`http` sends the first).
    pub api_keys: tx_shared::auth::ApiKeys,
    /// The typed client (`clients/rust`), as the first client: what well-formed requests go
    /// through.
    pub client: tx_broadcaster_client::Client,
}

/// A unique, valid resource prefix for one test.
pub fn unique_prefix(test: &str) -> String {
    format!("t-{test}-{:08x}", rand_u32())
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ (std::process::id().rotate_left(16))
}

impl TestStack {
    pub async fn start(test: &str) -> TestStack {
        Self::start_with(test, RunnerOptions::default(), 4).await
    }

    /// `pollers` 0 runs the API only: the test drives the handlers itself.
    pub async fn start_with(test: &str, options: RunnerOptions, pollers: usize) -> TestStack {
        Self::start_on(test, options, pollers, &rpc_url()).await
    }

    /// A stack on a given node (e.g. a test's own anvil).
    pub async fn start_on(
        test: &str,
        options: RunnerOptions,
        pollers: usize,
        node: &str,
    ) -> TestStack {
        Self::start_on_chains(test, options, pollers, node, &[]).await
    }

    /// A stack serving `node`'s chain (the default) and, beside it, the chain of each of
    /// `more_chains`, each with `options.lanes` keys of its own.
    pub async fn start_on_chains(
        test: &str,
        options: RunnerOptions,
        pollers: usize,
        node: &str,
        more_chains: &[&str],
    ) -> TestStack {
        require_emulator();
        // Logs only show with `--nocapture` and RUST_LOG set.
        if std::env::var("RUST_LOG").is_ok() {
            tx_shared::telemetry::init();
        }
        let sdk = load_config(AwsTimeouts::HANDLER).await;
        let names = Names::new(unique_prefix(test));
        let provisioned = devstack::provision_lanes(
            &sdk,
            &names,
            node,
            devstack::default_target(),
            options.backoff.max_attempts,
            options.lanes,
        )
        .await
        .unwrap_or_else(|e| panic!("provisioning {test}: {e}"));
        let mut provisioned = provisioned;
        for url in more_chains {
            let chain = devstack::provision_chain(
                &sdk,
                &names,
                url,
                devstack::default_target(),
                options.lanes,
            )
            .await
            .unwrap_or_else(|e| panic!("provisioning {test}'s chain at {url}: {e}"));
            provisioned.more_chains.push(chain);
        }
        let options = RunnerOptions {
            api_addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            pollers_per_queue: pollers,
            wait_time_seconds: 1,
            receipt_poll_seconds: 1,
            // Nothing a test registers is ever sent off this machine.
            webhook_policy: tx_shared::webhooks::AddressPolicy::LOOPBACK_ONLY,
            ..options
        };
        let running = start(&sdk, &provisioned, &options)
            .await
            .unwrap_or_else(|e| panic!("starting {test}: {e}"));
        let api_url = running.api_url();
        let node = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_reqwest(
                http_client(),
                node.parse().unwrap_or_else(|e| panic!("{e}")),
            )
            .root()
            .clone();
        TestStack {
            sdk,
            provisioned,
            names,
            running: Some(running),
            client: api_client(&api_url, &options.api_keys),
            http: client_http(&options.api_keys),
            admin_token: options.admin_token.clone(),
            api_keys: options.api_keys.clone(),
            node,
            api_url,
        }
    }

    /// The store, key and node adapters of this stack, for tests that play a function's part.
    pub fn adapters(
        &self,
    ) -> (
        tx_shared::adapters::dynamo::DynamoStore,
        tx_shared::adapters::kms::KmsSigner,
        tx_shared::adapters::rpc::RpcNode,
    ) {
        (
            tx_shared::adapters::dynamo::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.provisioned.table_name,
            )
            .with_webhook_table(&self.provisioned.webhook_table_name),
            tx_shared::adapters::kms::KmsSigner::new(
                aws_sdk_kms::Client::new(&self.sdk),
                &self.provisioned.kms_key_id,
            ),
            tx_shared::adapters::rpc::RpcNode::new(
                &self.provisioned.rpc_url,
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        )
    }

    /// Replaces the runner (API only, say) with one that runs the consumers and the sweeper too.
    /// The clients and the operators keep their credentials.
    pub async fn restart(&mut self, options: RunnerOptions) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let options = RunnerOptions {
            api_addr: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            wait_time_seconds: 1,
            api_keys: self.api_keys.clone(),
            admin_token: self.admin_token.clone(),
            webhook_policy: tx_shared::webhooks::AddressPolicy::LOOPBACK_ONLY,
            ..options
        };
        let running = devstack::start(&self.sdk, &self.provisioned, &options)
            .await
            .unwrap_or_else(|e| panic!("restarting: {e}"));
        self.api_url = running.api_url();
        self.client = api_client(&self.api_url, &self.api_keys);
        self.running = Some(running);
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    pub async fn post_raw(&self, body: String, idempotency_key: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("{}/transaction/broadcast", self.api_url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("POST: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A well-formed request through the typed client: the status and the answer's JSON (an
    /// error as the API's error body).
    pub async fn post(
        &self,
        message_type: &str,
        data: &str,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let request = tx_broadcaster_client::BroadcastRequest::new(message_type, data);
        match self.client.broadcast(&request, idempotency_key).await {
            Ok(accepted) => (200, json!(accepted)),
            Err(tx_broadcaster_client::Error::Api {
                status,
                code,
                message,
                transaction_id,
            }) => {
                let mut error = json!({ "code": code, "message": message });
                if let Some(id) = transaction_id {
                    error["transaction_id"] = json!(id);
                }
                (status, json!({ "error": error }))
            }
            Err(e) => panic!("POST: {e}"),
        }
    }

    /// POSTs and returns the transaction id, asserting a 200.
    pub async fn submit(&self, message_type: &str, data: &str) -> String {
        self.submit_request(tx_broadcaster_client::BroadcastRequest::new(
            message_type,
            data,
        ))
        .await
    }

    /// [`TestStack::submit`], to the chain `chain` names (an id or a name).
    pub async fn submit_to(&self, chain: Value, message_type: &str, data: &str) -> String {
        let chain = match chain {
            Value::Number(id) => tx_broadcaster_client::Chain::Id(
                id.as_u64().unwrap_or_else(|| panic!("chain id {id}")),
            ),
            Value::String(name) => tx_broadcaster_client::Chain::Name(name),
            other => panic!("a chain is an id or a name, not {other}"),
        };
        let request = tx_broadcaster_client::BroadcastRequest::new(message_type, data).on(chain);
        self.submit_request(request).await
    }

    async fn submit_request(&self, request: tx_broadcaster_client::BroadcastRequest) -> String {
        match self.client.broadcast(&request, None).await {
            Ok(accepted) => accepted.transaction_id,
            Err(e) => panic!("POST {request:?} answered {e}"),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.api_url))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The transaction's view, read through the typed client, as JSON.
    pub async fn transaction(&self, id: &str) -> Value {
        match self.client.transaction(id).await {
            Ok(tx) => json!(tx),
            Err(e) => panic!("GET /transactions/{id} answered {e}"),
        }
    }

    /// Polls until `check` holds for the transaction, or fails with its last state.
    pub async fn wait_until(
        &self,
        id: &str,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let last = self.transaction(id).await;
            if check(&last) {
                return last;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transaction {id}: condition not met within {within:?}; last seen: {last}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Submits an `add_weight` call and waits until it reaches `status` with a `last_error`
    /// that contains `reason`; returns its view.
    pub async fn submit_until_error(
        &self,
        weight_address: Address,
        status: &str,
        reason: &str,
        within: Duration,
    ) -> Value {
        let id = self
            .submit(ADD_WEIGHT, &add_weight_data(weight_address, 1))
            .await;
        self.wait_until(&id, within, |tx| {
            tx["status"] == status
                && tx["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains(reason))
        })
        .await
    }

    /// Polls until the transaction reaches `status`, or fails with its last state.
    pub async fn wait_for_status(&self, id: &str, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let last = self.transaction(id).await;
            if last["status"] == status {
                return last;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "transaction {id} did not reach `{status}` within {within:?}; last seen: {last}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits for each transaction to be confirmed; their nonces, sorted, by chain and lane (the
/// sender that took them).
pub async fn confirmed_nonces(
    stack: &TestStack,
    ids: &[String],
) -> std::collections::BTreeMap<(u64, Address), Vec<u64>> {
    let mut lanes: std::collections::BTreeMap<(u64, Address), Vec<u64>> = Default::default();
    for id in ids {
        let tx = stack
            .wait_for_status(id, "confirmed", Duration::from_secs(120))
            .await;
        let chain = tx["chain_id"]
            .as_u64()
            .unwrap_or_else(|| panic!("no chain: {tx}"));
        let lane: Address = tx["signer_address"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no lane: {tx}"));
        let nonce = tx["nonce"]
            .as_u64()
            .unwrap_or_else(|| panic!("no nonce: {tx}"));
        lanes.entry((chain, lane)).or_default().push(nonce);
    }
    for nonces in lanes.values_mut() {
        nonces.sort_unstable();
    }
    lanes
}

/// The fault proxy with `config`, in front of `upstream`, on a free port.
pub async fn proxy_in_front_of(
    upstream: &str,
    config: rpc_proxy::ProxyConfig,
) -> rpc_proxy::ProxyHandle {
    rpc_proxy::start(
        upstream,
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        config,
    )
    .await
    .unwrap_or_else(|e| panic!("proxy: {e}"))
}

/// A node that refuses every `eth_sendRawTransaction` with HTTP 5xx (until its config is
/// reset), in front of `upstream`: transactions end `needs_review` once their attempts run out.
pub async fn refusing_sends(upstream: &str) -> rpc_proxy::ProxyHandle {
    let config = rpc_proxy::ProxyConfig {
        methods: Some(vec!["eth_sendRawTransaction".into()]),
        http_5xx_probability: 1.0,
        ..rpc_proxy::ProxyConfig::default()
    };
    proxy_in_front_of(upstream, config).await
}

/// Polls `check` every 100 ms until it holds or `within` passes.
pub async fn poll_until<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Calldata for `add_weight(address,uint256)`.
pub fn add_weight_data(addr: Address, weight: u64) -> String {
    let function = Function::parse(ADD_WEIGHT).unwrap_or_else(|e| panic!("{e}"));
    let data = function
        .abi_encode_input(&[
            DynSolValue::Address(addr),
            DynSolValue::Uint(U256::from(weight), 256),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    hex::encode_prefixed(data)
}

/// An anvil node of the test's own, for tests that steer mining or the base fee (and so must
/// not disturb the shared one). Killed on drop.
pub struct OwnAnvil {
    child: std::process::Child,
    pub url: String,
}

impl OwnAnvil {
    /// `extra` e.g. `["--no-mining"]`.
    pub async fn spawn(extra: &[&str]) -> OwnAnvil {
        Self::spawn_on_chain(31337, extra).await
    }

    /// The same, serving chain `chain_id`.
    pub async fn spawn_on_chain(chain_id: u64, extra: &[&str]) -> OwnAnvil {
        let bin = std::env::var("ANVIL_BIN").unwrap_or_else(|_| {
            format!(
                "{}/../.tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil",
                env!("CARGO_MANIFEST_DIR")
            )
        });
        let port = free_port();
        let child = std::process::Command::new(&bin)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--chain-id",
                &chain_id.to_string(),
                "--silent",
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting anvil at {bin} (run `make tools`): {e}"));
        let anvil = OwnAnvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = http_client();
        let up = poll_until(Duration::from_secs(20), || async {
            rpc(&http, &anvil.url, "eth_chainId", json!([]))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "anvil on {} did not answer within 20 s", anvil.url);
        anvil
    }

    pub async fn call(&self, method: &str, params: Value) -> Value {
        rpc(&http_client(), &self.url, method, params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn mine(&self) {
        self.call("evm_mine", json!([])).await;
    }
}

impl Drop for OwnAnvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API's client as the first of `keys` (every request carries its `x-api-key`; a request
/// that adds an operator's `Authorization` is the operator's).
pub fn client_http(keys: &tx_shared::auth::ApiKeys) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = keys.first_key() {
        headers.insert(
            "x-api-key",
            key.parse().unwrap_or_else(|e| panic!("API key: {e}")),
        );
    }
    tx_shared::tls::reqwest_builder()
        .timeout(Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"))
}

/// The typed client at `api_url`, as the first of `keys`.
pub fn api_client(api_url: &str, keys: &tx_shared::auth::ApiKeys) -> tx_broadcaster_client::Client {
    let key = keys.first_key().unwrap_or_default().to_owned();
    let http = tx_shared::tls::reqwest_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"));
    tx_broadcaster_client::Client::new(
        http,
        api_url,
        tx_broadcaster_client::Credentials::ApiKey(key),
    )
}

/// A plain HTTP client for the tests' own calls (anvil, the local API).
pub fn http_client() -> reqwest::Client {
    tx_shared::tls::reqwest_builder()
        .build()
        .unwrap_or_else(|e| panic!("HTTP client: {e}"))
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// One JSON-RPC call; the `result`, or the error as text.
pub async fn rpc(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    params: Value,
) -> Result<Value, String> {
    let response = http
        .post(url)
        .timeout(Duration::from_secs(10))
        .json(&json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    match body.get("error") {
        Some(error) => Err(error.to_string()),
        None => Ok(body.get("result").cloned().unwrap_or(Value::Null)),
    }
}
