//! Routing and answer shapes. The store here only counts calls: a 400 or 422 must never reach
//! it. Everything that does reach a store is tested against the emulator in `tests/`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::consensus::TxEip1559;
use alloy::primitives::B256;
use axum::body::to_bytes;
use axum::http::Request;
use tower::ServiceExt;
use tx_shared::domain::{HistoryEntry, Inclusion, SignedTx};
use tx_shared::ports::{
    Account, AdminRetry, Claim, LeaseToken, NonceReservation, Page, QueueError, RetryRecord,
    SignError, Signature,
};

use super::*;

#[derive(Default)]
struct CountingStore {
    calls: AtomicUsize,
}

impl CountingStore {
    fn touched(&self) -> StoreError {
        self.calls.fetch_add(1, Ordering::SeqCst);
        StoreError::Unavailable("counting store".into())
    }
}

impl TransactionStore for CountingStore {
    async fn count_by_status(&self, _: u64) -> Result<tx_shared::ports::StatusCounts, StoreError> {
        Err(self.touched())
    }
    async fn insert_new(&self, _: &NewTransaction) -> Result<Inserted, StoreError> {
        Err(self.touched())
    }
    async fn get(&self, _: TxId) -> Result<Option<tx_shared::domain::Transaction>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }
    async fn list(&self, _: &ListQuery) -> Result<Page, StoreError> {
        Err(self.touched())
    }
    async fn discard_unpublished(
        &self,
        _: &tx_shared::domain::Transaction,
    ) -> Result<bool, StoreError> {
        Err(self.touched())
    }
    async fn claim_for_signing(&self, _: TxId, _: Duration) -> Result<Claim, StoreError> {
        Err(self.touched())
    }
    async fn release_claim(&self, _: TxId, _: &LeaseToken) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn reserve_nonce(
        &self,
        _: TxId,
        _: &LeaseToken,
        _: Account,
    ) -> Result<NonceReservation, StoreError> {
        Err(self.touched())
    }
    async fn seed_nonce(&self, _: Account, _: u64) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_signed(&self, _: TxId, _: &LeaseToken, _: &SignedTx) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_broadcast(&self, _: TxId) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_replacement(&self, _: TxId, _: B256, _: &SignedTx) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_inclusion(&self, _: TxId, _: Inclusion, _: B256) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_retry(&self, _: TxId, _: &RetryRecord) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_needs_review(&self, _: TxId, _: &str) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_reverted_unsent(&self, _: TxId, _: &str) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn schedule(&self, _: TxId, _: OffsetDateTime) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_dead_letter(
        &self,
        _: TxId,
        _: &str,
        _: &str,
        _: u32,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_admin_retry(
        &self,
        _: TxId,
        _: Status,
        _: AdminRetry,
        _: &str,
    ) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn record_event(&self, _: TxId, _: HistoryEntry) -> Result<(), StoreError> {
        Err(self.touched())
    }
    async fn resync_nonce(&self, _: Account, _: u64) -> Result<Option<u64>, StoreError> {
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

struct NoPublisher;

impl RequestPublisher for NoPublisher {
    async fn publish(&self, _: &TxMessage) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("not in unit tests".into()))
    }
}

struct FixedKey;

impl TransactionSigner for FixedKey {
    async fn address(&self) -> Result<Address, SignError> {
        Ok(Address::repeat_byte(0xab))
    }
    async fn sign(&self, _: TxEip1559) -> Result<Signature, SignError> {
        Err(SignError::Failed("not in unit tests".into()))
    }
}

type TestApp = App<CountingStore, NoPublisher, FixedKey>;

fn app() -> Arc<TestApp> {
    Arc::new(App::new(
        CountingStore::default(),
        NoPublisher,
        FixedKey,
        31337,
        MessageTypePolicy::allow_all(),
        None,
    ))
}

async fn call(app: &Arc<TestApp>, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = router(app.clone())
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, json)
}

fn post(body: impl Into<Body>) -> Request<Body> {
    Request::post("/transaction/broadcast")
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri)
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
    let app = Arc::new(App::new(
        CountingStore::default(),
        NoPublisher,
        FixedKey,
        1,
        MessageTypePolicy::allow_only(["ping()"]).unwrap_or_default(),
        None,
    ));
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
async fn health_reports_the_signer_and_chain() {
    let (status, json) = call(&app(), get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["status"], "ok");
    assert_eq!(json["chain_id"], 31337);
    assert_eq!(
        json["signer_address"],
        Address::repeat_byte(0xab).to_string()
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
