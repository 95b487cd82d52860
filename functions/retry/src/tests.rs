//! The admin routes' authentication and the retry's decisions, over the in-memory store.
use super::*;

#[test]
fn tokens_compare_exactly() {
    use tx_shared::auth::secrets_equal;
    assert!(secrets_equal("secret", "secret"));
    assert!(!secrets_equal("secret", "secreT"));
    assert!(!secrets_equal("secret", "secret2"));
    assert!(!secrets_equal("", "x"));
}

#[test]
fn missing_and_wrong_tokens_are_401_and_403() {
    let auth = AdminAuth::BearerToken("t0ken".into());
    let mut headers = HeaderMap::new();
    assert_eq!(
        authenticate(&auth, &headers, None).err().map(|d| d.status),
        Some(StatusCode::UNAUTHORIZED)
    );
    headers.insert(
        "authorization",
        "Bearer nope".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(
        authenticate(&auth, &headers, None).err().map(|d| d.status),
        Some(StatusCode::FORBIDDEN)
    );
    headers.insert(
        "authorization",
        "Bearer t0ken".parse().unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(authenticate(&auth, &headers, None).is_ok());
    assert_eq!(
        authenticate(&AdminAuth::Gateway, &HeaderMap::new(), None)
            .err()
            .map(|d| d.status),
        Some(StatusCode::FORBIDDEN)
    );
}

#[test]
fn the_gateway_names_operators_without_their_account() {
    use lambda_http::aws_lambda_events::apigw::{
        ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerIamDescription,
        ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
    };
    use lambda_http::request::RequestContext;

    let with = |authorizer: ApiGatewayRequestAuthorizer| {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        RequestContext::ApiGatewayV2(context)
    };
    let mut iam = ApiGatewayRequestAuthorizerIamDescription::default();
    iam.user_arn = Some("arn:aws:sts::123456789012:assumed-role/ops/alice".into());
    let mut by_iam = ApiGatewayRequestAuthorizer::default();
    by_iam.iam = Some(iam);
    assert_eq!(
        gateway_principal(&with(by_iam)).as_deref(),
        Some("assumed-role/ops/alice")
    );
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims.insert("sub".into(), "0b7c-uuid".into());
    jwt.claims.insert("username".into(), "bob".into());
    let mut by_jwt = ApiGatewayRequestAuthorizer::default();
    by_jwt.jwt = Some(jwt);
    assert_eq!(gateway_principal(&with(by_jwt)).as_deref(), Some("bob"));
    assert_eq!(
        gateway_principal(&RequestContext::ApiGatewayV2(
            ApiGatewayV2httpRequestContext::default()
        )),
        None
    );
}

mod decisions {
    use alloy::primitives::Bytes;
    use time::OffsetDateTime;
    use tx_fakes::RecordingQueue;
    use tx_shared::adapters::memory::MemoryStore;
    use tx_shared::ports::RetryRecord;

    use super::*;

    type TestRetrier = Retrier<MemoryStore, RecordingQueue>;

    fn retrier() -> TestRetrier {
        Retrier {
            store: MemoryStore::new(),
            to_signer: RecordingQueue::default(),
            to_broadcaster: RecordingQueue::default(),
        }
    }

    async fn received(store: &MemoryStore) -> TxId {
        tx_fakes::received(store).await
    }

    /// Signed at nonce 3.
    async fn signed(store: &MemoryStore) -> TxId {
        tx_fakes::signed(store, 3, Bytes::from(vec![0x02, 0x03]))
            .await
            .0
    }

    async fn under_review(r: &TestRetrier, id: TxId) {
        r.store
            .record_needs_review(id, "refused", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    fn action(result: Result<Retried, RetryError>) -> AdminRetry {
        result.map(|r| r.action).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn in_flight_and_confirmed_transactions_are_refused() {
        let r = retrier();
        let id = received(&r.store).await;
        assert!(matches!(
            r.retry(id, "ops").await,
            Err(RetryError::Refused(_))
        ));
        let sent = signed(&r.store).await;
        assert!(matches!(
            r.retry(sent, "ops").await,
            Err(RetryError::Refused(_))
        ));
        let unknown = TxId::generate();
        assert_eq!(
            r.retry(unknown, "ops").await,
            Err(RetryError::NotFound(unknown))
        );
        assert!(r.to_signer.enqueued().is_empty() && r.to_broadcaster.enqueued().is_empty());
    }

    #[tokio::test]
    async fn a_waiting_transaction_skips_its_wait_at_its_stage() {
        let r = retrier();
        let id = received(&r.store).await;
        let retry = RetryRecord {
            reason: "node_timeout".into(),
            attempt: 1,
            next_attempt_at: OffsetDateTime::now_utc() + Duration::from_secs(600),
            backoff_ceiling: Duration::from_secs(600),
        };
        r.store
            .record_retry(id, &retry)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(action(r.retry(id, "ops").await), AdminRetry::SkipWait);
        let queued = r.to_signer.enqueued();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].0.generation, 1, "the retry's generation");
    }

    #[tokio::test]
    async fn under_review_unsigned_is_signed_afresh_and_signed_is_sent_to_the_broadcaster() {
        let r = retrier();
        let unsigned = received(&r.store).await;
        under_review(&r, unsigned).await;
        assert_eq!(
            action(r.retry(unsigned, "ops").await),
            AdminRetry::ResignFresh
        );
        assert_eq!(r.to_signer.enqueued().len(), 1);
        // Signed: its bytes go to the broadcaster, which decides on chain what their nonce
        // became (still open, used by them, or taken by another sender).
        let open = signed(&r.store).await;
        under_review(&r, open).await;
        assert_eq!(action(r.retry(open, "ops").await), AdminRetry::ResendSigned);
        assert_eq!(r.to_broadcaster.enqueued().len(), 1);
        // Again at once: it is `retrying` now, so the second only skips a wait, to the
        // broadcaster (it is signed); nothing is signed twice.
        assert_eq!(action(r.retry(open, "ops").await), AdminRetry::SkipWait);
        assert_eq!(r.to_broadcaster.enqueued().len(), 2);
        // A decision made on a status that has gone since is refused.
        assert!(matches!(
            r.store
                .record_admin_retry(open, Status::NeedsReview, AdminRetry::ResendSigned, "ops")
                .await,
            Err(StoreError::Conflict { .. })
        ));
    }

    #[tokio::test]
    async fn a_reverted_call_is_signed_afresh() {
        let r = retrier();
        let id = signed(&r.store).await;
        let store = &r.store;
        let hash = store
            .get(id)
            .await
            .ok()
            .flatten()
            .and_then(|tx| tx.signed.map(|s| s.hash))
            .unwrap_or_else(|| panic!("unsigned"));
        store
            .record_broadcast(id)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let reverted = tx_shared::domain::Inclusion {
            block_number: 7,
            succeeded: false,
        };
        store
            .record_inclusion(id, reverted, hash)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(action(r.retry(id, "ops").await), AdminRetry::ResignFresh);
        assert_eq!(r.to_signer.enqueued().len(), 1);
    }

    #[tokio::test]
    async fn a_retry_recorded_but_not_queued_is_left_to_the_sweeper() {
        let r = retrier();
        let id = received(&r.store).await;
        under_review(&r, id).await;
        r.to_signer
            .fail_next(tx_shared::ports::QueueError::Unavailable("SQS".into()));
        assert!(matches!(
            r.retry(id, "ops").await,
            Err(RetryError::Unavailable(_))
        ));
        // Recorded, so the sweeper finds it `retrying` and overdue; a second click is a
        // skip-wait, not a second signature.
        let tx = r.store.get(id).await.ok().flatten();
        assert_eq!(tx.map(|tx| tx.status), Some(Status::Retrying));
        assert_eq!(action(r.retry(id, "ops").await), AdminRetry::SkipWait);
    }
}
