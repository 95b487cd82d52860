//! The proxy in front of a real anvil: pass-through, each fault, latency, seeded rolls, stats
//! and the admin routes.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rpc_proxy::{
    ConfigError, Fault, ProxyConfig, ProxyError, ProxyHandle, ProxyStats, RpcErrorKind,
};
use serde_json::{Value, json};
use support::{
    Anvil, any_port, call, client, client_with_timeout, hex_u64, poll_until, post, request,
    start_proxy,
};

#[tokio::test]
async fn passes_calls_through_unchanged() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let chain_id = request("eth_chainId", json!([]), json!(7));

    let direct = post(&client, &anvil.url, &chain_id).await;
    let proxied = post(&client, &proxy.url(), &chain_id).await;

    let (direct, proxied) = (
        direct.unwrap_or_else(|e| panic!("{e}")),
        proxied.unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(proxied, direct);
    assert_eq!(proxy.stats().forwarded, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_methods_filter_leaves_other_methods_untouched() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            methods: Some(vec!["eth_sendRawTransaction".to_owned()]),
            http_5xx_probability: 1.0,
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client();
    let url = proxy.url();

    let chain_id = call(&client, &url, "eth_chainId", json!([])).await;
    assert_eq!(hex_u64(&chain_id["result"]), 31337);

    let send = request("eth_sendRawTransaction", json!(["0x00"]), json!(1));
    let (status, _) = post(&client, &url, &send)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.is_server_error(), "got {status}");

    // A pending fail_next waits for a call in scope, too.
    proxy.fail_next(1, Fault::Drop);
    call(&client, &url, "eth_blockNumber", json!([])).await;
    assert_eq!(proxy.config().fail_next.map(|f| f.count), Some(1));
    assert!(post(&client, &url, &send).await.is_err());

    // A batch is in scope when any of its calls is.
    let batch = json!([request("eth_chainId", json!([]), json!(1)), send]);
    let (status, _) = post(&client, &url, &batch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(status.is_server_error(), "got {status}");

    let stats = proxy.stats();
    assert_eq!(stats.passed_through, 2);
    assert_eq!(stats.faults.http_5xx, 2);
    assert_eq!(stats.faults.drop, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn fail_next_http_5xx_answers_502_or_503_then_recovers() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let chain_id = request("eth_chainId", json!([]), json!(1));

    proxy.fail_next(2, Fault::Http5xx);
    for _ in 0..2 {
        let (status, body) = post(&client, &proxy.url(), &chain_id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE].contains(&status),
            "got {status}"
        );
        assert!(!body.is_empty());
    }
    call(&client, &proxy.url(), "eth_chainId", json!([])).await;
    assert_eq!(proxy.stats().faults.http_5xx, 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn fail_next_rpc_error_answers_each_kind_with_the_request_id() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();

    for (n, kind) in RpcErrorKind::ALL.into_iter().enumerate() {
        let id = if n % 2 == 0 {
            json!(n)
        } else {
            json!(format!("id-{n}"))
        };
        proxy.fail_next(1, Fault::RpcError(kind));
        let (status, body) = post(
            &client,
            &proxy.url(),
            &request("eth_chainId", json!([]), id.clone()),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, StatusCode::OK);
        let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
        let expected_code = if kind == RpcErrorKind::Internal {
            -32603
        } else {
            -32000
        };
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": expected_code, "message": kind.message()}}),
            "{kind:?}"
        );
    }
    assert_eq!(
        RpcErrorKind::ALL.map(RpcErrorKind::message),
        [
            "nonce too low",
            "already known",
            "replacement transaction underpriced",
            "insufficient funds for gas * price + value",
            "internal error",
        ]
    );
    let stats = proxy.stats();
    assert_eq!(stats.faults.rpc_errors(), 5);
    // Only "already known" reached the node.
    assert_eq!(stats.forwarded, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_batch_gets_one_fault_for_the_whole_request() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let batch = json!([
        request("eth_chainId", json!([]), json!(1)),
        request("eth_blockNumber", json!([]), json!("two")),
    ]);

    proxy.fail_next(1, Fault::RpcError(RpcErrorKind::NonceTooLow));
    let (_, body) = post(&client, &proxy.url(), &batch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    let error = json!({"code": -32000, "message": "nonce too low"});
    assert_eq!(
        answer,
        json!([
            {"jsonrpc": "2.0", "id": 1, "error": error},
            {"jsonrpc": "2.0", "id": "two", "error": error},
        ])
    );

    // The fault was used up by the one request: the next batch goes through whole.
    let (status, body) = post(&client, &proxy.url(), &batch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    let results = answer.as_array().map(Vec::len);
    assert_eq!(results, Some(2), "{answer}");
    assert!(answer[0].get("result").is_some(), "{answer}");

    let stats = proxy.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.faults.rpc_errors(), 1);
    assert_eq!(
        stats.calls_by_method,
        BTreeMap::from([
            ("eth_blockNumber".to_owned(), 2),
            ("eth_chainId".to_owned(), 2)
        ])
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn fail_next_drop_closes_the_connection_without_an_answer() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let chain_id = request("eth_chainId", json!([]), json!(1));

    proxy.fail_next(1, Fault::Drop);
    let error = match post(&client, &proxy.url(), &chain_id).await {
        Ok((status, _)) => panic!("a dropped connection was answered with {status}"),
        Err(error) => error,
    };
    assert!(!error.is_timeout(), "{error}");
    assert!(error.status().is_none(), "{error}");

    call(&client, &proxy.url(), "eth_chainId", json!([])).await;
    assert_eq!(proxy.stats().faults.drop, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn fail_next_hang_outlasts_the_clients_timeout() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            hang_ms: 600_000,
            ..ProxyConfig::default()
        },
    )
    .await;
    let chain_id = request("eth_chainId", json!([]), json!(1));

    proxy.fail_next(1, Fault::Hang);
    let impatient = client_with_timeout(Duration::from_millis(300));
    let error = match post(&impatient, &proxy.url(), &chain_id).await {
        Ok((status, _)) => panic!("a hang was answered with {status}"),
        Err(error) => error,
    };
    assert!(error.is_timeout(), "{error}");

    // A short hang ends by closing the connection, unanswered, no earlier than hang_ms.
    proxy
        .update(|c| c.hang_ms = 300)
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.fail_next(1, Fault::Hang);
    let started = Instant::now();
    let error = match post(&client(), &proxy.url(), &chain_id).await {
        Ok((status, _)) => panic!("a hang was answered with {status}"),
        Err(error) => error,
    };
    assert!(!error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    assert_eq!(proxy.stats().faults.hang, 2);
    // Shutting down cuts the first, still-held hang instead of waiting it out.
    tokio::time::timeout(Duration::from_secs(30), proxy.shutdown())
        .await
        .unwrap_or_else(|_| panic!("shutdown waited for a held connection"));
}

async fn first_account_and_nonce(client: &reqwest::Client, anvil: &Anvil) -> (Value, u64) {
    let accounts = call(client, &anvil.url, "eth_accounts", json!([])).await;
    let from = accounts["result"][0].clone();
    let nonce = nonce_of(client, anvil, &from).await;
    (from, nonce)
}

async fn nonce_of(client: &reqwest::Client, anvil: &Anvil, account: &Value) -> u64 {
    let count = call(
        client,
        &anvil.url,
        "eth_getTransactionCount",
        json!([account, "latest"]),
    )
    .await;
    hex_u64(&count["result"])
}

#[tokio::test]
async fn already_known_really_forwards_the_transaction() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            methods: Some(vec!["eth_sendTransaction".to_owned()]),
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client();
    let (from, nonce_before) = first_account_and_nonce(&client, &anvil).await;

    proxy.fail_next(1, Fault::RpcError(RpcErrorKind::AlreadyKnown));
    let send = request(
        "eth_sendTransaction",
        json!([{"from": from, "to": from, "value": "0x1"}]),
        json!(99),
    );
    let (status, body) = post(&client, &proxy.url(), &send)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::OK);
    let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 99, "error": {"code": -32000, "message": "already known"}})
    );

    let mined = poll_until(Duration::from_secs(10), || async {
        nonce_of(&client, &anvil, &from).await > nonce_before
    })
    .await;
    assert!(mined, "the transaction never reached the node");
    assert_eq!(proxy.stats().forwarded, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn forward_before_latency_executes_the_call_even_if_the_client_gives_up() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            methods: Some(vec!["eth_sendTransaction".to_owned()]),
            latency_ms: [60_000, 60_000],
            forward_before_latency: true,
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client();
    let (from, nonce_before) = first_account_and_nonce(&client, &anvil).await;

    let send = request(
        "eth_sendTransaction",
        json!([{"from": from, "to": from, "value": "0x1"}]),
        json!(1),
    );
    let impatient = client_with_timeout(Duration::from_millis(300));
    let error = match post(&impatient, &proxy.url(), &send).await {
        Ok((status, _)) => panic!("answered with {status} before the latency"),
        Err(error) => error,
    };
    assert!(error.is_timeout(), "{error}");

    let mined = poll_until(Duration::from_secs(10), || async {
        nonce_of(&client, &anvil, &from).await > nonce_before
    })
    .await;
    assert!(mined, "the node never got the call");
    proxy.shutdown().await;
}

#[tokio::test]
async fn latency_scaled_by_time_scale_is_at_least_its_lower_bound() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            latency_ms: [4_000, 6_000],
            time_scale: 0.05,
            ..ProxyConfig::default()
        },
    )
    .await;
    let client = client();

    let started = Instant::now();
    call(&client, &proxy.url(), "eth_chainId", json!([])).await;
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Faults other than hang come after the same latency.
    proxy.fail_next(1, Fault::Http5xx);
    let started = Instant::now();
    let answered = post(
        &client,
        &proxy.url(),
        &request("eth_chainId", json!([]), json!(1)),
    )
    .await;
    assert!(answered.is_ok_and(|(status, _)| status.is_server_error()));
    assert!(started.elapsed() >= Duration::from_millis(200));

    proxy
        .update(|c| {
            c.slow_probability = 1.0;
            c.slow_latency_ms = [10_000, 10_000];
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    call(&client, &proxy.url(), "eth_chainId", json!([])).await;
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert_eq!(proxy.stats().slow, 1);
    proxy.shutdown().await;
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Answered,
    HttpError(u16),
    RpcError(String),
    NoAnswer,
}

async fn observe(client: &reqwest::Client, url: &str, calls: usize) -> Vec<Seen> {
    let chain_id = request("eth_chainId", json!([]), json!(1));
    let mut seen = Vec::with_capacity(calls);
    for _ in 0..calls {
        seen.push(match post(client, url, &chain_id).await {
            Err(_) => Seen::NoAnswer,
            Ok((status, _)) if status != StatusCode::OK => Seen::HttpError(status.as_u16()),
            Ok((_, body)) => {
                let answer: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{e}"));
                match answer["error"]["message"].as_str() {
                    Some(message) => Seen::RpcError(message.to_owned()),
                    None => Seen::Answered,
                }
            }
        });
    }
    seen
}

#[tokio::test]
async fn seeded_probabilities_are_reproducible_and_roughly_right() {
    let anvil = Anvil::start().await;
    let config = ProxyConfig {
        seed: Some(20_240_601),
        http_5xx_probability: 0.1,
        rpc_error_probability: 0.1,
        hang_probability: 0.05,
        hang_ms: 1,
        drop_probability: 0.05,
        ..ProxyConfig::default()
    };
    let proxy = start_proxy(&anvil, config.clone()).await;
    let client = client();
    let calls = 500;

    let first = observe(&client, &proxy.url(), calls).await;
    let stats = proxy.reset_stats();
    proxy.set_config(config).unwrap_or_else(|e| panic!("{e}"));
    let second = observe(&client, &proxy.url(), calls).await;
    assert_eq!(first, second, "the same seed gave different rolls");

    let count = |wanted: fn(&Seen) -> bool| first.iter().filter(|s| wanted(s)).count() as u64;
    let http_errors = count(|s| matches!(s, Seen::HttpError(502 | 503)));
    let rpc_errors = count(|s| matches!(s, Seen::RpcError(_)));
    let no_answer = count(|s| matches!(s, Seen::NoAnswer));
    let answered = count(|s| matches!(s, Seen::Answered));
    // Expected 50, 50, 50 and 350; the bounds are several standard deviations wide.
    assert!((20..=90).contains(&http_errors), "5xx {http_errors}");
    assert!((20..=90).contains(&rpc_errors), "rpc errors {rpc_errors}");
    assert!((20..=90).contains(&no_answer), "no answer {no_answer}");
    assert!((290..=410).contains(&answered), "answered {answered}");

    // What the client saw is what the proxy counted.
    assert_eq!(stats.requests, calls as u64);
    assert_eq!(stats.faults.http_5xx, http_errors);
    assert_eq!(stats.faults.rpc_errors(), rpc_errors);
    assert_eq!(stats.faults.hang + stats.faults.drop, no_answer);
    assert_eq!(
        stats.forwarded,
        answered
            + stats
                .faults
                .rpc_error
                .get(&RpcErrorKind::AlreadyKnown)
                .copied()
                .unwrap_or(0)
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn stats_count_requests_methods_faults_and_forwards() {
    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let url = proxy.url();

    call(&client, &url, "eth_chainId", json!([])).await;
    call(&client, &url, "eth_chainId", json!([])).await;
    let batch = json!([
        request("eth_chainId", json!([]), json!(1)),
        request("eth_blockNumber", json!([]), json!(2)),
    ]);
    post(&client, &url, &batch)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    proxy.fail_next(1, Fault::Http5xx);
    let _ = post(
        &client,
        &url,
        &request("eth_blockNumber", json!([]), json!(3)),
    )
    .await;

    let expected = ProxyStats {
        requests: 4,
        calls_by_method: BTreeMap::from([
            ("eth_blockNumber".to_owned(), 2),
            ("eth_chainId".to_owned(), 3),
        ]),
        forwarded: 3,
        faults: rpc_proxy::FaultCounts {
            http_5xx: 1,
            ..Default::default()
        },
        ..ProxyStats::default()
    };
    assert_eq!(proxy.stats(), expected);
    assert_eq!(proxy.reset_stats(), expected);
    assert_eq!(proxy.stats(), ProxyStats::default());
    proxy.shutdown().await;
}

async fn admin(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let mut builder = client.request(method, url);
    if let Some(body) = body {
        builder = builder
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let answer = builder.send().await.unwrap_or_else(|e| panic!("{e}"));
    let status = answer.status();
    let text = answer.text().await.unwrap_or_else(|e| panic!("{e}"));
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_admin_routes_work_over_http() {
    use reqwest::Method;

    let anvil = Anvil::start().await;
    let proxy = start_proxy(&anvil, ProxyConfig::default()).await;
    let client = client();
    let at = |path: &str| format!("{}{path}", proxy.url());

    let (status, config) = admin(&client, Method::GET, at("/_proxy/config"), None).await;
    assert_eq!(status, StatusCode::OK);
    let config: ProxyConfig = serde_json::from_value(config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config, ProxyConfig::default());

    let (status, _) = admin(
        &client,
        Method::PUT,
        at("/_proxy/config"),
        Some(r#"{"methods": ["eth_sendRawTransaction"], "http_5xx_probability": 1, "seed": 5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let replaced = proxy.config();
    assert_eq!(
        replaced.methods,
        Some(vec!["eth_sendRawTransaction".to_owned()])
    );
    assert_eq!(replaced.http_5xx_probability, 1.0);
    assert_eq!(replaced.seed, Some(5));

    for (body, code) in [
        (r#"{"drop_probability": 2}"#, "invalid_config"),
        (r#"{"drop_probabilty": 0.5}"#, "invalid_json"),
        ("nope", "invalid_json"),
    ] {
        let (status, answer) = admin(&client, Method::PUT, at("/_proxy/config"), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    assert_eq!(
        proxy.config(),
        replaced,
        "a refused config changed something"
    );

    let (status, _) = admin(&client, Method::PUT, at("/_proxy/config"), Some("{}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, config) = admin(
        &client,
        Method::POST,
        at("/_proxy/fail-next"),
        Some(r#"{"count": 1, "fault": {"rpc_error": "nonce_too_low"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config["fail_next"],
        json!({"count": 1, "fault": {"rpc_error": "nonce_too_low"}})
    );
    let answer = call(&client, &proxy.url(), "eth_chainId", json!([])).await;
    assert_eq!(answer["error"]["message"], "nonce too low");

    let (status, stats) = admin(&client, Method::GET, at("/_proxy/stats"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["requests"], 1);
    assert_eq!(stats["faults"]["rpc_error"]["nonce_too_low"], 1);

    let (status, before) = admin(&client, Method::POST, at("/_proxy/reset-stats"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(before["requests"], 1);
    let (_, stats) = admin(&client, Method::GET, at("/_proxy/stats"), None).await;
    let stats: ProxyStats = serde_json::from_value(stats).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stats, ProxyStats::default());

    let (status, _) = admin(&client, Method::GET, at("/_proxy/nothing"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    proxy.shutdown().await;
}

#[tokio::test]
async fn start_refuses_bad_input_and_shutdown_stops_listening() {
    let refused = rpc_proxy::start("not a url", any_port(), ProxyConfig::default()).await;
    assert!(matches!(refused, Err(ProxyError::InvalidUpstream { .. })));
    let refused = rpc_proxy::start("ftp://127.0.0.1", any_port(), ProxyConfig::default()).await;
    assert!(matches!(refused, Err(ProxyError::UnsupportedUpstream(_))));
    let invalid = ProxyConfig {
        latency_ms: [2, 1],
        ..ProxyConfig::default()
    };
    let refused = rpc_proxy::start("http://127.0.0.1:1", any_port(), invalid).await;
    assert!(matches!(
        refused,
        Err(ProxyError::Config(ConfigError::Range { .. }))
    ));

    let proxy = rpc_proxy::start("http://127.0.0.1:1", any_port(), ProxyConfig::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = proxy.addr();
    assert_eq!(proxy.url(), format!("http://{addr}"));
    // Nothing listens upstream: the client gets a 502, the proxy counts an upstream error.
    let (status, _) = post(
        &client(),
        &proxy.url(),
        &request("eth_chainId", json!([]), json!(1)),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(proxy.stats().upstream_errors, 1);

    proxy.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// A transfer from anvil's first account at `nonce`, signed by anvil (`eth_signTransaction`).
async fn signed_transfer(
    client: &reqwest::Client,
    anvil: &Anvil,
    nonce: u64,
    tip_gwei: u64,
) -> Value {
    let from = call(client, &anvil.url, "eth_accounts", json!([])).await["result"][0].clone();
    let tx = json!({
        "from": from,
        "to": "0x000000000000000000000000000000000000dEaD",
        "value": "0x1",
        "gas": "0x5208",
        "nonce": format!("{nonce:#x}"),
        "maxFeePerGas": format!("{:#x}", tip_gwei * 100_000_000_000),
        "maxPriorityFeePerGas": format!("{:#x}", tip_gwei * 1_000_000_000),
    });
    call(client, &anvil.url, "eth_signTransaction", json!([tx])).await["result"].clone()
}

/// An anvil that mines only when told, behind a proxy letting 2 transactions per sender in.
async fn two_per_sender() -> (Anvil, ProxyHandle, reqwest::Client) {
    let anvil = Anvil::start().await;
    let client = client();
    call(&client, &anvil.url, "evm_setAutomine", json!([false])).await;
    let proxy = start_proxy(
        &anvil,
        ProxyConfig {
            max_pending_per_sender: Some(2),
            ..ProxyConfig::default()
        },
    )
    .await;
    (anvil, proxy, client)
}

async fn send_raw(client: &reqwest::Client, proxy: &ProxyHandle, raw: Value) -> Value {
    call(client, &proxy.url(), "eth_sendRawTransaction", json!([raw])).await
}

#[tokio::test]
async fn a_sender_with_its_pending_limit_reached_is_refused_a_new_nonce_but_not_a_replacement() {
    let (anvil, proxy, client) = two_per_sender().await;
    let send = |raw: Value| send_raw(&client, &proxy, raw);
    for nonce in [0, 1] {
        let raw = signed_transfer(&client, &anvil, nonce, 1).await;
        assert!(send(raw).await["result"].is_string(), "nonce {nonce}");
    }
    let third = signed_transfer(&client, &anvil, 2, 1).await;
    let refused = send(third.clone()).await;
    assert_eq!(refused["error"]["message"], "txpool is full", "{refused}");
    assert_eq!(refused["error"]["code"], -32000);
    // A replacement of a pending nonce takes no new slot.
    let replacement = signed_transfer(&client, &anvil, 1, 5).await;
    let replaced = send(replacement).await;
    assert!(replaced["result"].is_string(), "{replaced}");
    // Once a block takes them, the sender has room again.
    call(&client, &anvil.url, "evm_mine", json!([])).await;
    assert!(send(third).await["result"].is_string());
    assert_eq!(proxy.stats().pending_limit_refusals, 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_nonce_behind_a_gap_is_refused_and_never_blocks_the_next_one() {
    let (anvil, proxy, client) = two_per_sender().await;
    let send = |raw: Value| send_raw(&client, &proxy, raw);
    // Nonce 5 would wait behind a gap: refused, and it takes no slot from nonce 0 and 1.
    let early = send(signed_transfer(&client, &anvil, 5, 1).await).await;
    assert_eq!(early["error"]["message"], "txpool is full", "{early}");
    for nonce in [0, 1] {
        let raw = signed_transfer(&client, &anvil, nonce, 1).await;
        assert!(send(raw).await["result"].is_string(), "nonce {nonce}");
    }
    proxy.shutdown().await;
}
