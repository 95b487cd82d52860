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
    use tx_fakes::{RecordingQueue, ScriptedNode};
    use tx_shared::adapters::memory::MemoryStore;
    use tx_shared::ports::RetryRecord;

    use super::*;

    type TestRetrier = Retrier<MemoryStore, RecordingQueue, ScriptedNode>;

    struct Fixture {
        retrier: TestRetrier,
    }

    impl Fixture {
        fn to_signer(&self) -> Vec<(TxMessage, Duration)> {
            self.retrier.to_signer.enqueued()
        }

        fn to_broadcaster(&self) -> Vec<(TxMessage, Duration)> {
            self.retrier.to_broadcaster.enqueued()
        }
    }

    fn fixture() -> Fixture {
        Fixture {
            retrier: Retrier {
                store: MemoryStore::new(),
                to_signer: RecordingQueue::default(),
                to_broadcaster: RecordingQueue::default(),
                node: ScriptedNode::default(),
            },
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

    fn action(result: Result<Retried, RetryError>) -> AdminRetry {
        result.map(|r| r.action).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn in_flight_and_confirmed_transactions_are_refused() {
        let f = fixture();
        let id = received(&f.retrier.store).await;
        assert!(matches!(
            f.retrier.retry(id, "ops").await,
            Err(RetryError::Refused(_))
        ));
        let sent = signed(&f.retrier.store).await;
        assert!(matches!(
            f.retrier.retry(sent, "ops").await,
            Err(RetryError::Refused(_))
        ));
        let unknown = TxId::generate();
        assert_eq!(
            f.retrier.retry(unknown, "ops").await,
            Err(RetryError::NotFound(unknown))
        );
        assert!(f.to_signer().is_empty() && f.to_broadcaster().is_empty());
    }

    #[tokio::test]
    async fn a_waiting_transaction_skips_its_wait_at_its_stage() {
        let f = fixture();
        let id = received(&f.retrier.store).await;
        let retry = RetryRecord {
            reason: "node_timeout".into(),
            attempt: 1,
            next_attempt_at: OffsetDateTime::now_utc() + Duration::from_secs(600),
            backoff_ceiling: Duration::from_secs(600),
        };
        f.retrier
            .store
            .record_retry(id, &retry)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            action(f.retrier.retry(id, "ops").await),
            AdminRetry::SkipWait
        );
        let queued = f.to_signer();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].0.generation, 1, "the retry's generation");
    }

    #[tokio::test]
    async fn under_review_its_nonce_decides_resend_or_resign() {
        // Unsigned: signed afresh.
        let f = fixture();
        let unsigned = received(&f.retrier.store).await;
        f.retrier
            .store
            .record_needs_review(unsigned, "kms disabled", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            action(f.retrier.retry(unsigned, "ops").await),
            AdminRetry::ResignFresh
        );
        assert_eq!(f.to_signer().len(), 1);
        // Signed, its nonce still open on chain: the same bytes again.
        let open = signed(&f.retrier.store).await;
        f.retrier
            .store
            .record_needs_review(open, "refused", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx_fakes::set(&f.retrier.node.mined_nonce, Ok(3));
        assert_eq!(
            action(f.retrier.retry(open, "ops").await),
            AdminRetry::ResendSigned
        );
        assert_eq!(f.to_broadcaster().len(), 1);
        // Again at once: it is `retrying` now, so the second only skips a wait, to the
        // broadcaster (it is signed); nothing is signed twice.
        assert_eq!(
            action(f.retrier.retry(open, "ops").await),
            AdminRetry::SkipWait
        );
        assert_eq!(f.to_broadcaster().len(), 2);
        // A decision made on a status that has gone since is refused.
        assert!(matches!(
            f.retrier
                .store
                .record_admin_retry(open, Status::NeedsReview, AdminRetry::ResendSigned, "ops")
                .await,
            Err(StoreError::Conflict { .. })
        ));
        // Its nonce used since (and none of its hashes mined): signed afresh.
        f.retrier
            .store
            .record_needs_review(open, "again", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tx_fakes::set(&f.retrier.node.mined_nonce, Ok(4));
        f.retrier
            .node
            .script_lookup(Ok(tx_shared::ports::Lookup::Unknown));
        assert_eq!(
            action(f.retrier.retry(open, "ops").await),
            AdminRetry::ResignFresh
        );
    }

    async fn under_review(f: &Fixture) -> TxId {
        let id = signed(&f.retrier.store).await;
        f.retrier
            .store
            .record_needs_review(id, "refused", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        id
    }

    #[tokio::test]
    async fn a_reverted_call_is_signed_afresh() {
        let f = fixture();
        let id = signed(&f.retrier.store).await;
        let store = &f.retrier.store;
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
        assert_eq!(
            action(f.retrier.retry(id, "ops").await),
            AdminRetry::ResignFresh
        );
        assert_eq!(f.to_signer().len(), 1);
    }

    #[tokio::test]
    async fn under_review_with_a_hash_mined_meanwhile_goes_to_the_broadcaster() {
        let f = fixture();
        let id = under_review(&f).await;
        // Its nonce is used (by it): only the lookup tells that apart from a stranger.
        tx_fakes::set(&f.retrier.node.mined_nonce, Ok(4));
        f.retrier
            .node
            .script_lookup(Ok(tx_shared::ports::Lookup::Included(
                tx_shared::domain::Inclusion {
                    block_number: 9,
                    succeeded: true,
                },
            )));
        assert_eq!(
            action(f.retrier.retry(id, "ops").await),
            AdminRetry::ResendSigned
        );
        assert_eq!(f.to_broadcaster().len(), 1);
    }

    #[tokio::test]
    async fn a_node_that_cannot_answer_leaves_the_transaction_as_it_was() {
        let f = fixture();
        let id = under_review(&f).await;
        tx_fakes::set(
            &f.retrier.node.mined_nonce,
            Err(NodeError::Unavailable("HTTP 502".into())),
        );
        assert!(matches!(
            f.retrier.retry(id, "ops").await,
            Err(RetryError::Unavailable(_))
        ));
        let tx = f.retrier.store.get(id).await.ok().flatten();
        assert_eq!(tx.map(|tx| tx.status), Some(Status::NeedsReview));
        assert!(f.to_signer().is_empty() && f.to_broadcaster().is_empty());
    }

    #[tokio::test]
    async fn a_retry_recorded_but_not_queued_is_left_to_the_sweeper() {
        let f = fixture();
        let id = received(&f.retrier.store).await;
        f.retrier
            .store
            .record_needs_review(id, "kms disabled", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        f.retrier
            .to_signer
            .fail_next(tx_shared::ports::QueueError::Unavailable("SQS".into()));
        assert!(matches!(
            f.retrier.retry(id, "ops").await,
            Err(RetryError::Unavailable(_))
        ));
        // Recorded, so the sweeper finds it `retrying` and overdue; a second click is a
        // skip-wait, not a second signature.
        let tx = f.retrier.store.get(id).await.ok().flatten();
        assert_eq!(tx.map(|tx| tx.status), Some(Status::Retrying));
        assert_eq!(
            action(f.retrier.retry(id, "ops").await),
            AdminRetry::SkipWait
        );
    }

    /// A node on which the transaction (nonce 3) is mined right after the first question
    /// about it is answered, whichever question that is.
    #[derive(Default)]
    struct MinedDuringTheDecision {
        answered: std::sync::atomic::AtomicBool,
    }

    impl MinedDuringTheDecision {
        fn mined(&self) -> bool {
            self.answered
                .swap(true, std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl ChainNode for MinedDuringTheDecision {
        async fn pending_nonce(&self, _: alloy::primitives::Address) -> Result<u64, NodeError> {
            Ok(if self.mined() { 4 } else { 3 })
        }
        async fn mined_nonce(&self, _: alloy::primitives::Address) -> Result<u64, NodeError> {
            Ok(if self.mined() { 4 } else { 3 })
        }
        async fn mined_nonce_at(
            &self,
            _: alloy::primitives::Address,
            _: u64,
        ) -> Result<u64, NodeError> {
            Ok(if self.mined() { 4 } else { 3 })
        }
        async fn lookup(&self, _: alloy::primitives::B256) -> Result<Lookup, NodeError> {
            Ok(if self.mined() {
                Lookup::Included(tx_shared::domain::Inclusion {
                    block_number: 5,
                    succeeded: true,
                })
            } else {
                Lookup::Pending
            })
        }
        async fn base_fee(&self) -> Result<u128, NodeError> {
            Ok(1)
        }
        async fn plan_gas(
            &self,
            _: alloy::primitives::Address,
            _: alloy::primitives::Address,
            _: &Bytes,
        ) -> Result<tx_shared::ports::GasPlan, NodeError> {
            Err(NodeError::Unavailable("not asked by a retry".into()))
        }
        async fn send_raw(&self, _: &Bytes) -> Result<alloy::primitives::B256, NodeError> {
            Err(NodeError::Unavailable("not asked by a retry".into()))
        }
        async fn inclusion(
            &self,
            _: alloy::primitives::B256,
        ) -> Result<Option<tx_shared::domain::Inclusion>, NodeError> {
            Ok(None)
        }
        async fn block_number(&self) -> Result<u64, NodeError> {
            Ok(5)
        }
        async fn balance(&self, _: alloy::primitives::Address) -> Result<u128, NodeError> {
            Ok(0)
        }
        async fn chain_id(&self) -> Result<u64, NodeError> {
            Ok(31337)
        }
        async fn suggested_tip(&self) -> Result<u128, NodeError> {
            Ok(1)
        }
        async fn on_canonical_chain(&self, _: alloy::primitives::B256) -> Result<bool, NodeError> {
            Ok(true)
        }
    }

    #[tokio::test]
    async fn a_transaction_mined_while_the_retry_decides_is_not_signed_again() {
        let retrier = Retrier {
            store: MemoryStore::new(),
            to_signer: RecordingQueue::default(),
            to_broadcaster: RecordingQueue::default(),
            node: MinedDuringTheDecision::default(),
        };
        let id = signed(&retrier.store).await;
        retrier
            .store
            .record_needs_review(id, "attempts ran out", u32::MAX)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            action(retrier.retry(id, "ops").await),
            AdminRetry::ResendSigned
        );
        assert!(
            retrier.to_signer.enqueued().is_empty(),
            "never signed twice"
        );
    }
}
