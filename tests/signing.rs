//! The signer against the emulator's KMS and anvil: one signature per transaction, however often
//! SQS delivers its message, and signatures that recover to the key's address.

use std::time::Duration;

use alloy::consensus::{SignableTransaction as _, Transaction as _, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::{Address, TxKind, U256};
use alloy::providers::Provider;
use alloy::signers::Signer as _;
use alloy::signers::aws::AwsSigner;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use futures::future::join_all;
use integration_tests::{ADD_WEIGHT, TestStack, add_weight_data};
use tx_shared::adapters::kms::KmsSigner;
use tx_shared::aws::AwsClients;
use tx_shared::batch::Deadline;
use tx_shared::ports::{NonceCounter as _, SigningLease as _, TransactionSigner};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kms_signature_recovers_to_the_keys_address() {
    let stack = TestStack::start_with("kms", Default::default(), 0).await;
    let kms = aws_sdk_kms::Client::new(&stack.sdk);
    let key_id = stack.provisioned.kms_key_id.clone();

    let alloy_signer = AwsSigner::new(kms.clone(), key_id.clone(), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let message = b"tx-broadcaster";
    let signature = alloy_signer
        .sign_message(message)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let recovered = signature
        .recover_address_from_msg(message)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recovered, alloy_signer.address());
    assert_eq!(recovered, stack.provisioned.signer_address);

    // Our port signs a transaction whose signature recovers to the same address.
    let ours = KmsSigner::new(kms, key_id);
    assert_eq!(ours.address().await.ok(), Some(recovered));
    let tx = TxEip1559 {
        chain_id: stack.provisioned.chain_id,
        nonce: 3,
        gas_limit: 50_000,
        max_fee_per_gas: 2_000_000_000,
        max_priority_fee_per_gas: 1_000_000,
        to: TxKind::Call(Address::repeat_byte(9)),
        value: U256::ZERO,
        access_list: Default::default(),
        input: vec![1, 2, 3].into(),
    };
    let signed = ours.sign(tx).await.unwrap_or_else(|e| panic!("{e}"));
    let envelope =
        TxEnvelope::decode_2718(&mut signed.raw.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*envelope.tx_hash(), signed.hash);
    let eip1559 = envelope
        .as_eip1559()
        .unwrap_or_else(|| panic!("not an EIP-1559 transaction"));
    let from = eip1559
        .signature()
        .recover_address_from_prehash(&eip1559.tx().signature_hash())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from, recovered);
    assert_eq!(envelope.nonce(), 3);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_message_never_signs_a_second_transaction() {
    // API only: this test plays the event source mapping itself.
    let stack = TestStack::start_with("redeliver", Default::default(), 0).await;
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let id = stack
        .submit(ADD_WEIGHT, &add_weight_data(Address::repeat_byte(0x66), 5))
        .await;

    // The SNS fan-out delivered exactly the message the signer consumes.
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while messages.is_empty() && tokio::time::Instant::now() < deadline {
        messages = receive(&sqs, &stack.provisioned.sign_queue_url).await;
    }
    assert_eq!(messages.len(), 1, "one message for one request");
    let event = devstack::to_event(&messages, "arn:aws:sqs:us-east-1:000000000000:sign");

    let configs =
        devstack::function_configs(&stack.provisioned, &devstack::RunnerOptions::default());
    let chain = configs.signer.chains.default_chain();
    let signer = signer::AwsSigner::from_aws(&configs.signer, chain, &AwsClients::new(&stack.sdk))
        .unwrap_or_else(|e| panic!("{e}"));

    // The same event four times: twice at once, then twice more in sequence.
    let concurrent = join_all([
        signer.handle(event.clone(), Deadline::none()),
        signer.handle(event.clone(), Deadline::none()),
    ])
    .await;
    let first = stack.transaction(&id).await;
    for _ in 0..2 {
        let again = signer.handle(event.clone(), Deadline::none()).await;
        assert!(
            again.batch_item_failures.is_empty(),
            "a redelivery succeeds: {again:?}"
        );
    }
    let last = stack.transaction(&id).await;
    // At most one of the concurrent pair may have been told to retry (it found the lease held).
    assert!(
        concurrent
            .iter()
            .filter(|r| r.batch_item_failures.is_empty())
            .count()
            >= 1
    );
    assert_eq!(last["status"], "signed");
    assert_eq!(
        first["tx_hash"], last["tx_hash"],
        "the stored signed transaction never changes"
    );
    assert_eq!(last["nonce"], 0);

    // Every broadcast message names the same transaction, and only one signed payload exists.
    let broadcaster = broadcaster::AwsBroadcaster::from_aws(
        &configs.broadcaster,
        chain,
        &AwsClients::new(&stack.sdk),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut handed_over = 0;
    loop {
        let batch = receive(&sqs, &stack.provisioned.broadcast_queue_url).await;
        if batch.is_empty() {
            break;
        }
        for message in &batch {
            assert!(message.body().unwrap_or_default().contains(&id));
        }
        handed_over += batch.len();
        let response = broadcaster
            .handle(
                devstack::to_event(&batch, "arn:aws:sqs:us-east-1:000000000000:b"),
                Deadline::none(),
            )
            .await;
        assert!(response.batch_item_failures.is_empty(), "{response:?}");
        for message in &batch {
            sqs.delete_message()
                .queue_url(&stack.provisioned.broadcast_queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e:?}"));
        }
        if stack.transaction(&id).await["status"] == "confirmed" {
            break;
        }
    }
    assert!(handed_over >= 1);
    let done = stack.transaction(&id).await;
    assert_eq!(done["status"], "confirmed", "{done}");
    assert_eq!(done["tx_hash"], first["tx_hash"]);
    let count = stack
        .node
        .get_transaction_count(stack.provisioned.signer_address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        count, 1,
        "exactly one transaction was ever sent from the signer"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_signer_processes_take_distinct_gap_free_nonces_in_groups_and_a_lost_lease_takes_none()
 {
    use tx_shared::ports::{Account, Claim, LeaseToken, NonceReservation, StoreError};

    // API only: the test plays two signer processes, each with a store of its own (so each
    // groups its own reservations, and the two race through the counter's condition). Their
    // transactional writes are counted.
    let stack = TestStack::start_with("noncerace", Default::default(), 0).await;
    let writes = CountedWrites::default();
    let first = writes.store(&stack);
    let second = writes.store(&stack);
    let account = Account {
        chain_id: stack.provisioned.chain_id,
        address: stack.provisioned.signer_address,
    };
    let calls: Vec<String> = (0..25u64)
        .map(|i| add_weight_data(Address::repeat_byte(0x5a), i))
        .collect();
    let ids = join_all(calls.iter().map(|data| stack.submit(ADD_WEIGHT, data))).await;
    let mut claimed = Vec::new();
    for id in &ids {
        let id: tx_shared::domain::TxId = id.parse().unwrap_or_else(|e| panic!("{e}"));
        match first.claim_for_signing(id, Duration::from_secs(120)).await {
            Ok(Claim::Granted { token, .. }) => claimed.push((id, token)),
            other => panic!("claiming {id}: {other:?}"),
        }
    }
    first
        .seed_nonce(account, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // The last one's lease is gone (another invocation took it over): it must take no nonce.
    let (lost_id, lost_token) = claimed.pop().unwrap_or_else(|| panic!("nothing claimed"));
    let lost = first
        .reserve_nonce(lost_id, &LeaseToken("not-ours".into()), account)
        .await;
    assert!(
        matches!(lost, Err(StoreError::Conflict { .. })),
        "a transaction whose lease is lost is refused: {lost:?}"
    );

    // 24 reservations at once, half in each process; among the first process's, one whose
    // lease is lost again: its group is written without it.
    let before = writes.count();
    let wrong = LeaseToken("not-ours-either".into());
    let (reserved, refused) = tokio::join!(
        join_all(claimed.iter().enumerate().map(|(i, (id, token))| {
            let store = if i % 2 == 0 { &first } else { &second };
            store.reserve_nonce(*id, token, account)
        })),
        first.reserve_nonce(lost_id, &wrong, account),
    );
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "a lost lease in a group is refused alone: {refused:?}"
    );
    let written = writes.count() - before;
    assert!(
        written < 24,
        "25 reservations in two processes were written in {written} transactional writes: grouped, not one each"
    );
    let mut nonces = Vec::new();
    for ((id, _), result) in claimed.iter().zip(reserved) {
        let Ok(NonceReservation::Assigned(nonce)) = result else {
            panic!("{id}: {result:?}");
        };
        let stored = stack.transaction(&id.to_string()).await;
        assert_eq!(
            stored["nonce"], nonce,
            "{id} keeps the nonce it was told: {stored}"
        );
        nonces.push(nonce);
    }
    nonces.sort_unstable();
    assert_eq!(
        nonces,
        (0..24).collect::<Vec<u64>>(),
        "distinct and gap-free"
    );

    // The counter moved on by exactly the nonces handed out: the next one is 24.
    let next = second
        .reserve_nonce(lost_id, &lost_token, account)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(next, NonceReservation::Assigned(24));
    stack.stop().await;
}

/// DynamoDB stores whose transactional writes are counted (every attempt, as AWS bills them).
#[derive(Clone, Default)]
struct CountedWrites(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CountedWrites {
    fn store(&self, stack: &TestStack) -> tx_shared::adapters::dynamo::DynamoStore {
        let client = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&stack.sdk)
                .interceptor(self.clone())
                .build(),
        );
        tx_shared::adapters::dynamo::DynamoStore::new(client, &stack.provisioned.table_name)
    }

    fn count(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl std::fmt::Debug for CountedWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CountedWrites({})", self.count())
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountedWrites {
    fn name(&self) -> &'static str {
        "CountedWrites"
    }

    fn read_before_transmit(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let operation = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>();
        if operation.is_some_and(|m| m.name() == "TransactWriteItems") {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}

/// One short long-poll for up to 10 messages, with the attributes Lambda would pass.
async fn receive(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .messages
        .unwrap_or_default()
}
