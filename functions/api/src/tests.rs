//! Routing and answer shapes. The store here only counts calls: a 400 or 422 must never reach
//! it. It plays only the two roles the api uses (`Intake`, `Reading`). Everything that does
//! reach a store is tested against the emulator in `tests/`.

use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy::consensus::TxEip1559;
use axum::body::to_bytes;
use axum::http::Request;
use tower::ServiceExt;
use tx_shared::ports::{Account, Page, QueueError, SignError, Signature};

use super::*;

/// The local anvil chain, the only one served.
pub(crate) fn one_chain<K>(policy: MessageTypePolicy, keys: KeyPool<K>) -> ByChain<ServedChain<K>> {
    ByChain::one(31337, ServedChain::new(31337, policy, keys))
}

#[derive(Default)]
struct CountingStore {
    calls: AtomicUsize,
    /// What `get` finds (any id).
    stored: Option<tx_shared::domain::Transaction>,
}

impl CountingStore {
    fn touched(&self) -> StoreError {
        self.calls.fetch_add(1, Ordering::SeqCst);
        StoreError::Unavailable("counting store".into())
    }
}

impl Intake for CountingStore {
    async fn insert_new(&self, _: &NewTransaction) -> Result<Inserted, StoreError> {
        Err(self.touched())
    }
    async fn discard_unpublished(
        &self,
        _: &tx_shared::domain::Transaction,
    ) -> Result<bool, StoreError> {
        Err(self.touched())
    }
}

impl Reading for CountingStore {
    async fn get(&self, _: TxId) -> Result<Option<tx_shared::domain::Transaction>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self.stored.clone())
    }
    async fn list(&self, _: &ListQuery) -> Result<Page, StoreError> {
        Err(self.touched())
    }
    async fn count_by_status(
        &self,
        _: u64,
        _: tx_shared::ports::CountScope<'_>,
    ) -> Result<tx_shared::ports::StatusCounts, StoreError> {
        Err(self.touched())
    }
    async fn list_overdue(
        &self,
        _: Status,
        _: OffsetDateTime,
        _: u32,
    ) -> Result<Vec<tx_shared::domain::Transaction>, StoreError> {
        Err(self.touched())
    }
}

/// Lanes and nodes are `/health`'s only: every other test touches none.
impl NonceCounter for CountingStore {
    async fn reserve_nonce(
        &self,
        _: TxId,
        _: &tx_shared::ports::LeaseToken,
        _: Account,
    ) -> Result<tx_shared::ports::NonceReservation, StoreError> {
        Err(self.touched())
    }
    async fn seed_nonce(&self, _: Account, _: u64) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn resync_nonce(&self, _: Account, _: u64) -> Result<Option<u64>, StoreError> {
        Err(self.touched())
    }
    async fn nonce_counter(
        &self,
        _: Account,
    ) -> Result<Option<tx_shared::ports::CounterState>, StoreError> {
        Err(self.touched())
    }
    async fn rewind_nonce(&self, _: Account, _: u64, _: u64) -> Result<bool, StoreError> {
        Err(self.touched())
    }
    async fn nonce_holders(
        &self,
        _: Account,
        _: u64,
        _: u32,
    ) -> Result<Vec<tx_shared::domain::Transaction>, StoreError> {
        Err(self.touched())
    }
    async fn report_lane(
        &self,
        _: Account,
        _: &tx_shared::lanes::LaneReport,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
}

/// Webhooks are tested on the in-memory store (below) and the emulator.
impl tx_shared::ports::WebhookStore for CountingStore {
    async fn endpoints(
        &self,
        _: &tx_shared::auth::ClientId,
    ) -> Result<tx_shared::webhooks::Registry, StoreError> {
        Err(self.touched())
    }
    async fn save_endpoints(
        &self,
        _: &tx_shared::auth::ClientId,
        _: &tx_shared::webhooks::Registry,
    ) -> Result<bool, StoreError> {
        Err(self.touched())
    }
    async fn log_event(
        &self,
        _: TxId,
        _: &tx_shared::webhooks::LoggedEvent,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn log_attempt(
        &self,
        _: TxId,
        _: &tx_shared::webhooks::Attempt,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn deliveries(&self, _: TxId) -> Result<tx_shared::webhooks::DeliveryLog, StoreError> {
        Err(self.touched())
    }
}

impl tx_shared::ports::ProgressLog for CountingStore {
    async fn add_progress(
        &self,
        _: u64,
        _: i64,
        _: &tx_shared::ports::MinuteProgress,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn progress(
        &self,
        _: u64,
        _: std::ops::Range<i64>,
    ) -> Result<Vec<(i64, tx_shared::ports::MinuteProgress)>, StoreError> {
        Err(self.touched())
    }
}

impl NodesHealth for CountingStore {
    async fn report_nodes(
        &self,
        _: u64,
        _: &[tx_shared::ports::NodeHealth],
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn nodes_health(
        &self,
        _: u64,
    ) -> Result<Option<(Vec<tx_shared::ports::NodeHealth>, OffsetDateTime)>, StoreError> {
        Err(self.touched())
    }
}

struct NoPublisher;

impl RequestPublisher for NoPublisher {
    async fn publish(&self, _: &TxMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("not in unit tests".into()))
    }
}

struct FixedKey;

/// A key of another lane.
struct FixedKeyAt(Address);

impl TransactionSigner for FixedKeyAt {
    async fn address(&self) -> Result<Address, SignError> {
        Ok(self.0)
    }
    async fn sign(&self, _: TxEip1559) -> Result<Signature, SignError> {
        Err(SignError::Failed("not in unit tests".into()))
    }
}

impl TransactionSigner for FixedKey {
    async fn address(&self) -> Result<Address, SignError> {
        Ok(Address::repeat_byte(0xab))
    }
    async fn sign(&self, _: TxEip1559) -> Result<Signature, SignError> {
        Err(SignError::Failed("not in unit tests".into()))
    }
}

type TestApp = App<CountingStore, NoPublisher, FixedKey>;

const ALICE_KEY: &str = "alice-key-0123456789";
const BOB_KEY: &str = "bob-key-0123456789ab";
const ADMIN_TOKEN: &str = "admin-token-0123456789";

fn local_auth() -> Authenticator {
    Authenticator::Local(LocalAuth {
        api_keys: tx_shared::auth::ApiKeys::parse(&format!("alice:{ALICE_KEY},bob:{BOB_KEY}"))
            .unwrap_or_else(|e| panic!("{e}")),
        admin_token: ADMIN_TOKEN.into(),
    })
}

fn app_with(store: CountingStore, policy: MessageTypePolicy) -> Arc<TestApp> {
    Arc::new(
        App::new(
            store,
            NoPublisher,
            one_chain(policy, KeyPool::one(FixedKey)),
            None,
        )
        .with_auth(local_auth()),
    )
}

fn app() -> Arc<TestApp> {
    app_with(CountingStore::default(), MessageTypePolicy::allow_all())
}

/// One request through the whole router; the status and the JSON body (null if none).
pub(crate) async fn call<S, P, K>(
    app: &Arc<App<S, P, K>>,
    request: Request<Body>,
) -> (StatusCode, serde_json::Value)
where
    S: Intake
        + Reading
        + NonceCounter
        + NodesHealth
        + tx_shared::ports::ProgressLog
        + WebhookStore
        + 'static,
    P: RequestPublisher + 'static,
    K: TransactionSigner + 'static,
{
    let response = router(app.clone())
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    // Every error any test elicits is one the OpenAPI document lists, with its status.
    if let Some(code) = json["error"]["code"].as_str() {
        assert!(
            crate::openapi::ERRORS
                .iter()
                .any(|e| e.code == code && e.status == status.as_u16()),
            "{status} `{code}` is not in openapi::ERRORS"
        );
    }
    (status, json)
}

fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("x-api-key", ALICE_KEY)
        .body(body.into())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A GET as alice.
fn get(uri: &str) -> Request<Body> {
    get_as(uri, &[("x-api-key", ALICE_KEY)])
}

fn get_as(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    headers
        .iter()
        .fold(Request::get(uri), |request, (name, value)| {
            request.header(*name, *value)
        })
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("{e}"))
}

const ADD_WEIGHT_DATA: &str = "0x1c41742f0000000000000000000000001111111111111111111111111111111111111111000000000000000000000000000000000000000000000000000000000000002a";

#[tokio::test]
async fn bad_bodies_are_400_with_a_code_and_write_nothing() {
    let app = app();
    let huge = format!(
        "{{\"message_type\":\"f()\",\"data\":\"0x{}\"}}",
        "0".repeat(MAX_BODY_BYTES)
    );
    for (body, code) in [
        ("nope".to_owned(), "invalid_json"),
        ("[1]".to_owned(), "body_not_object"),
        ("{\"data\":\"0x\"}".to_owned(), "missing_field"),
        (
            "{\"message_type\":\"f()\",\"data\":1}".to_owned(),
            "invalid_field_type",
        ),
        (
            "{\"messageType\":\"f()\",\"data\":\"0x\"}".to_owned(),
            "unknown_field",
        ),
        (huge, "body_too_large"),
    ] {
        let (status, json) = call(&app, post(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert_eq!(json["error"]["code"], code, "{json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn wrong_content_is_422_with_a_code_and_writes_nothing() {
    let app = app();
    let mismatched = ADD_WEIGHT_DATA.replacen("1c41742f", "deadbeef", 1);
    for (message_type, data, code) in [
        (
            "add_weight(address",
            ADD_WEIGHT_DATA,
            "invalid_message_type",
        ),
        (
            "add_weight(address _addr, uint256 _weight)",
            "0xzz",
            "invalid_data_hex",
        ),
        (
            "add_weight(address _addr, uint256 _weight)",
            mismatched.as_str(),
            "selector_mismatch",
        ),
        (
            "add_weight(address _addr, uint256 _weight)",
            "0x1c41742f00",
            "abi_decode_failed",
        ),
    ] {
        let body = json!({ "message_type": message_type, "data": data }).to_string();
        let (status, json) = call(&app, post(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
        assert_eq!(json["error"]["code"], code, "{json}");
    }
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn allowlist_rejections_are_422() {
    let app = app_with(
        CountingStore::default(),
        MessageTypePolicy::allow_only(["ping()"]).unwrap_or_else(|e| panic!("{e}")),
    );
    let body = json!({ "message_type": "add_weight(address,uint256)", "data": ADD_WEIGHT_DATA })
        .to_string();
    let (status, json) = call(&app, post(body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["error"]["code"], "message_type_not_allowed");
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_idempotency_keys_are_400() {
    let app = app();
    let body = json!({ "message_type": "add_weight(address,uint256)", "data": ADD_WEIGHT_DATA })
        .to_string();
    let request = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("x-api-key", ALICE_KEY)
        .header("idempotency-key", "x".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1))
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, json) = call(&app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["code"], "invalid_header");
}

#[tokio::test]
async fn a_valid_request_reaches_the_store_and_store_failures_are_503_without_internals() {
    let app = app();
    let body = json!({ "message_type": "add_weight(address,uint256)", "data": ADD_WEIGHT_DATA })
        .to_string();
    let (status, json) = call(&app, post(body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json["error"]["code"], "service_unavailable");
    assert!(!json.to_string().contains("counting store"));
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn lookups_and_listing_validate_their_input() {
    let app = app();
    let (status, json) = call(&app, get("/transactions/not-an-id")).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_transaction_id"))
    );
    let id = TxId::generate();
    let (status, json) = call(&app, get(&format!("/transactions/{id}"))).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    for uri in [
        "/transactions?status=lost",
        "/transactions?limit=0",
        "/transactions?limit=101",
        "/transactions?sort=asc",
        // Taken as given, as the OpenAPI document says: not blank, not padded, digits only.
        "/transactions?status=",
        "/transactions?status=%20confirmed",
        "/transactions?limit=%2B5",
        "/transactions/stats?chain=",
    ] {
        let (status, json) = call(&app, get(uri)).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{uri}"
        );
    }
    let (status, json) = call(&app, get("/nowhere")).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, _) = call(
        &app,
        Request::delete("/health")
            .body(Body::empty())
            .unwrap_or_default(),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_reports_the_chain_its_nodes_and_its_lanes() {
    use tx_shared::adapters::memory::MemoryStore;
    use tx_shared::lanes::{LaneReport, LaneState};
    use tx_shared::ports::NodeHealth;
    let lane = |byte: u8| Address::repeat_byte(byte);
    let store = MemoryStore::new();
    let account = |address| Account {
        chain_id: 31337,
        address,
    };
    // The first lane: 12 taken, 9 mined, funded. The second: never reported.
    store
        .seed_nonce(account(lane(0xab)), 12)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let report = LaneReport {
        mined: 9,
        state: LaneState::Ok,
        balance_wei: 5 * 10u128.pow(18),
        at: OffsetDateTime::now_utc(),
    };
    store
        .report_lane(account(lane(0xab)), &report)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nodes = [
        NodeHealth {
            node: "node-1".into(),
            healthy: true,
        },
        NodeHealth {
            node: "node-2".into(),
            healthy: false,
        },
    ];
    store
        .report_nodes(31337, &nodes)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let keys = KeyPool::new(vec![FixedKeyAt(lane(0xab)), FixedKeyAt(lane(0xcd))]);
    let app = Arc::new(App::new(
        store,
        NoPublisher,
        one_chain(MessageTypePolicy::allow_all(), keys),
        None,
    ));
    let response = router(app)
        .oneshot(get_as("/health", &[]))
        .await
        .unwrap_or_else(|never| match never {});
    assert_eq!(response.status(), StatusCode::OK);
    let body = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        json,
        serde_json::json!({
            "status": "ok",
            "signer_address": lane(0xab).to_string(),
            "chain_id": 31337,
            "chains": [{
                "chain_id": 31337,
                "name": "anvil",
                "default": true,
                "nodes": [
                    {"node": "node-1", "healthy": true},
                    {"node": "node-2", "healthy": false}
                ],
                "lanes": [
                    {
                        "address": lane(0xab).to_string(),
                        "next_nonce": 12,
                        "in_flight": 3,
                        "balance_wei": "5000000000000000000",
                        "state": "ok"
                    },
                    {
                        "address": lane(0xcd).to_string(),
                        "next_nonce": null,
                        "in_flight": null,
                        "balance_wei": null,
                        "state": "unknown"
                    }
                ]
            }]
        })
    );
}

#[tokio::test]
async fn the_status_page_is_served_from_the_binary() {
    let app = app();
    for (path, kind) in [
        ("/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let response = router(app.clone())
            .oneshot(get(path))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(response.headers().contains_key("content-security-policy"));
    }
    let (status, config) = call(&app, get("/ui/config.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        config["websocket_url"].is_null(),
        "locally the page uses /ws: {config}"
    );
}

#[tokio::test]
async fn list_filters_are_validated() {
    let app = app();
    for uri in [
        "/transactions?message_type=nonsense(",
        "/transactions?from=yesterday",
        "/transactions?from=2026-11-22&to=2026-11-21",
        "/transactions?q=0x1234",
    ] {
        let (status, json) = call(&app, get(uri)).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{uri}: {json}"
        );
    }
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn transaction_routes_need_credentials_and_public_ones_do_not() {
    let app = app();
    for (headers, status, code) in [
        (vec![], StatusCode::UNAUTHORIZED, "unauthorized"),
        (
            vec![("x-api-key", "alice-key-wrong")],
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            vec![("authorization", "Bearer wrong")],
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ] {
        for uri in [
            "/transactions",
            "/transactions/stats",
            "/transactions/01900000-0000-7000-8000-000000000000",
        ] {
            let (got, json) = call(&app, get_as(uri, &headers)).await;
            assert_eq!(
                (got, json["error"]["code"].as_str()),
                (status, Some(code)),
                "{uri} {headers:?}"
            );
        }
    }
    let unauthenticated_post = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        call(&app, unauthenticated_post).await.0,
        StatusCode::UNAUTHORIZED
    );
    for public in ["/", "/ui/app.js"] {
        let (status, _) = call(&app, get_as(public, &[])).await;
        assert_eq!(status, StatusCode::OK, "{public}");
    }
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
    // Health needs no credentials; it reads the lanes (here from a table that refuses: 503).
    let (status, body) = call(&app, get_as("/health", &[])).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn only_json_is_accepted_and_only_from_clients() {
    let app = app();
    let body = json!({ "message_type": "add_weight(address,uint256)", "data": ADD_WEIGHT_DATA })
        .to_string();
    // What a web page can send cross-origin without a preflight.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = Request::post("/transaction/broadcast").header("x-api-key", ALICE_KEY);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request
            .body(Body::from(body.clone()))
            .unwrap_or_else(|e| panic!("{e}"));
        let (status, json) = call(&app, request).await;
        assert_eq!(
            (status, json["error"]["code"].as_str()),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Some("unsupported_media_type")
            ),
            "{content_type:?}"
        );
    }
    let as_operator = Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from(body))
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, json) = call(&app, as_operator).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(app.store.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn another_clients_transaction_is_not_found_and_operators_see_it() {
    let new = NewTransaction {
        id: TxId::generate(),
        message_type: "ping()".into(),
        function_signature: "ping()".into(),
        data: alloy::primitives::Bytes::from(vec![0x5c, 0x36, 0xb1, 0x86]),
        chain_id: 31337,
        client: "bob".parse().unwrap_or_else(|e| panic!("{e}")),
        idempotency: None,
        created_at: OffsetDateTime::now_utc(),
    };
    let stored = tx_shared::domain::Transaction::received(&new);
    let app = app_with(
        CountingStore {
            stored: Some(stored),
            ..Default::default()
        },
        MessageTypePolicy::allow_all(),
    );
    let path = format!("/transactions/{}", new.id);
    let (status, alice_sees) = call(&app, get(&path)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!alice_sees.to_string().contains("bob"), "{alice_sees}");
    let (status, _) = call(&app, get_as(&path, &[("x-api-key", BOB_KEY)])).await;
    assert_eq!(status, StatusCode::OK);
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, view) = call(&app, get_as(&path, &[("authorization", &bearer)])).await;
    assert_eq!(
        (status, view["client_id"].as_str()),
        (StatusCode::OK, Some("bob"))
    );
    // Searching by id is the same lookup, scoped the same way.
    let (status, found) = call(&app, get(&format!("/transactions?q={}", new.id))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["transactions"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn out_of_range_and_forged_query_parameters_are_400_naming_the_parameter() {
    let app = app();
    let long_cursor = format!("/transactions?cursor={}", "A".repeat(5000));
    let long_id = format!("/transactions/{}", "0".repeat(5000));
    for (uri, parameter) in [
        ("/transactions?to=9999-12-31", None),
        ("/transactions?from=9999-12-31", None),
        ("/transactions?to=10000-01-01", Some("to")),
        ("/transactions?from=0000-01-01", Some("from")),
        ("/transactions?from=1969-12-31T23:59:59Z", Some("from")),
        ("/transactions?to=9999-12-31T23:59:59-23:59", Some("to")),
        ("/transactions?from=-0001-01-01", Some("from")),
        ("/transactions?limit=99999999999999999999", Some("limit")),
        ("/transactions?limit=-1", Some("limit")),
        ("/transactions?status=%00", Some("status")),
        (long_cursor.as_str(), Some("cursor")),
        (long_id.as_str(), None),
    ] {
        let (status, json) = call(&app, get(uri)).await;
        match parameter {
            // In range: it reaches the (failing) store, and nothing panics.
            None if uri.starts_with("/transactions?") => {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}: {json}")
            }
            None => assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {json}"),
            Some(parameter) => {
                assert_eq!(
                    (status, json["error"]["code"].as_str()),
                    (StatusCode::BAD_REQUEST, Some("invalid_query")),
                    "{uri}: {json}"
                );
                let message = json["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(parameter), "{uri}: {message}");
            }
        }
    }
}

#[tokio::test]
async fn the_page_learns_where_operators_sign_in_and_may_talk_to_it() {
    let sign_in = status_page::SignIn::new(
        "https://ops-1.auth.us-east-1.amazoncognito.com/any/path",
        "page-client".into(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut app = App::new(
        CountingStore::default(),
        NoPublisher,
        one_chain(MessageTypePolicy::allow_all(), KeyPool::one(FixedKey)),
        None,
    );
    app.sign_in = Some(sign_in);
    let app = Arc::new(app);
    let (status, config) = call(&app, get_as("/ui/config.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config["sign_in"],
        json!({ "url": "https://ops-1.auth.us-east-1.amazoncognito.com", "client_id": "page-client" })
    );
    let page = router(app.clone())
        .oneshot(get_as("/", &[]))
        .await
        .unwrap_or_else(|never| match never {});
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("connect-src 'self' ws: wss: https://ops-1.auth.us-east-1.amazoncognito.com;"),
        "{csp}"
    );
    // Only an https origin can be where operators type their password.
    assert!(status_page::SignIn::new("http://ops.example", "c".into()).is_err());
    assert!(status_page::SignIn::new("not a url", "c".into()).is_err());
}

#[test]
fn the_gateway_names_clients_by_api_key_id_and_operators_by_their_token() {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayProxyRequestContext, ApiGatewayRequestAuthorizer,
        ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
    };
    use lambda_http::request::RequestContext;

    let mut rest = ApiGatewayProxyRequestContext::default();
    assert_eq!(
        gateway_caller(&RequestContext::ApiGatewayV1(rest.clone())),
        None
    );
    rest.identity.api_key_id = Some("a1b2c3d4e5".into());
    assert_eq!(
        gateway_caller(&RequestContext::ApiGatewayV1(rest.clone())),
        Some(Caller::Client(
            "a1b2c3d4e5".parse().unwrap_or_else(|e| panic!("{e}"))
        ))
    );
    // A key id that could not be a storage key is no client.
    rest.identity.api_key_id = Some("a#b".into());
    assert_eq!(gateway_caller(&RequestContext::ApiGatewayV1(rest)), None);

    let mut http = ApiGatewayV2httpRequestContext::default();
    assert_eq!(
        gateway_caller(&RequestContext::ApiGatewayV2(http.clone())),
        None
    );
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims.insert("sub".into(), "0b7c-uuid".into());
    jwt.claims.insert("username".into(), "alice".into());
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    http.authorizer = Some(authorizer);
    assert_eq!(
        gateway_caller(&RequestContext::ApiGatewayV2(http)),
        Some(Caller::Operator {
            who: "alice".into()
        })
    );
}

#[tokio::test]
async fn the_timeline_shows_operators_the_last_hours_minutes_per_chain() {
    use tx_shared::adapters::memory::MemoryStore;
    use tx_shared::ports::{MinuteProgress, ProgressLog};
    let store = MemoryStore::new();
    let now = OffsetDateTime::now_utc().unix_timestamp() / 60;
    let step = MinuteProgress {
        counts: [("Confirmed".to_owned(), 4)].into(),
        seconds: [("BroadcastToConfirmedSeconds".to_owned(), (6.0, 4))].into(),
    };
    // This minute, one two hours ago (not shown), and another chain's (not served).
    for (chain, minute) in [(31337, now), (31337, now - 120), (8453, now)] {
        store
            .add_progress(chain, minute, &step)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let keys = KeyPool::new(vec![FixedKeyAt(Address::repeat_byte(0xab))]);
    let app = Arc::new(
        App::new(
            store,
            NoPublisher,
            one_chain(MessageTypePolicy::allow_all(), keys),
            None,
        )
        .with_auth(local_auth()),
    );
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, json) = call(
        &app,
        get_as("/transactions/timeline", &[("authorization", &bearer)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let chains = json["chains"].as_array().cloned().unwrap_or_default();
    assert_eq!(chains.len(), 1, "{json}");
    assert_eq!(chains[0]["chain_id"], 31337);
    let minutes = chains[0]["minutes"].as_array().cloned().unwrap_or_default();
    assert_eq!(minutes.len(), 1, "{json}");
    assert_eq!(minutes[0]["counts"]["Confirmed"], 4);
    assert_eq!(
        minutes[0]["mean_seconds"]["BroadcastToConfirmedSeconds"],
        1.5
    );
    // A client's key: it counts every client's transactions.
    let (status, json) = call(&app, get("/transactions/timeline")).await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, json) = call(
        &app,
        get_as(
            "/transactions/timeline?minutes=5",
            &[("authorization", &bearer)],
        ),
    )
    .await;
    assert_eq!(
        (status, json["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}
