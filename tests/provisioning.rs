//! Provisioning is idempotent: a second run finds and reuses everything the first one made.

use devstack::{Names, provision};
use integration_tests::{rpc_url, unique_prefix};
use tx_shared::aws::{AwsTimeouts, load_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_twice_reuses_every_resource() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| !v.is_empty()),
        "AWS_ENDPOINT_URL is not set: run through `make test`"
    );
    let sdk = load_config(AwsTimeouts::HANDLER).await;
    let names = Names::new(unique_prefix("prov"));
    let target = devstack::default_target();
    let first = provision(&sdk, &names, &rpc_url(), target, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let second = provision(&sdk, &names, &rpc_url(), target, 10)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(first.kms_key_id, second.kms_key_id, "one signing key");
    assert_eq!(first.signer_address, second.signer_address);
    assert_eq!(first.topic_arn, second.topic_arn);
    assert_eq!(first.sign_queue_url, second.sign_queue_url);
    assert_eq!(first.broadcast_queue_url, second.broadcast_queue_url);
    assert_eq!(first.sign_dlq_url, second.sign_dlq_url);

    let sns = aws_sdk_sns::Client::new(&sdk);
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(&first.topic_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        subscriptions.subscriptions().len(),
        1,
        "one subscription, not one per run"
    );

    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .describe_key()
        .key_id(&first.kms_key_id)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
        .key_metadata
        .unwrap_or_else(|| panic!("no key metadata"));
    assert_eq!(key.key_spec().map(|s| s.as_str()), Some("ECC_SECG_P256K1"));

    // Each queue has a dead-letter queue and a redrive policy.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for url in [&first.sign_queue_url, &first.broadcast_queue_url] {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .attributes
            .unwrap_or_default();
        let policy = attributes
            .get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .unwrap_or_else(|| panic!("{url} has no redrive policy"));
        assert!(policy.contains("-dlq"), "{policy}");
    }
}
