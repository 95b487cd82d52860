//! Idempotent provisioning of everything the functions need, on the emulator and on anvil.
//! Running it twice finds and reuses what the first run made.

use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use tx_shared::adapters::dynamo::{
    INDEX_BY_CLIENT, INDEX_BY_CREATED, INDEX_BY_NONCE, INDEX_BY_STATUS,
};
use tx_shared::adapters::kms::KmsSigner;
use tx_shared::ports::TransactionSigner;

use crate::DevError;

/// Local queues redeliver a failed record after this long (when the handler set no delay).
pub const VISIBILITY_TIMEOUT_SECONDS: u32 = 30;
/// Dead-letter queues hide a kept message this long between reviews (SQS's maximum).
pub const DLQ_VISIBILITY_TIMEOUT_SECONDS: u32 = 43_200;
/// What anvil credits the signer with.
const SIGNER_BALANCE_WEI: u128 = 1_000_000 * 1_000_000_000_000_000_000;

/// Resource names for one stack; tests use their own prefix so they never collide with
/// `make dev`.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
}

impl Names {
    pub fn new(prefix: impl Into<String>) -> Self {
        Names {
            prefix: prefix.into(),
        }
    }
    pub fn table(&self) -> String {
        format!("{}-transactions", self.prefix)
    }
    pub fn topic(&self) -> String {
        format!("{}-requests", self.prefix)
    }
    pub fn sign_queue(&self) -> String {
        format!("{}-sign", self.prefix)
    }
    pub fn broadcast_queue(&self) -> String {
        format!("{}-broadcast", self.prefix)
    }
    pub fn webhook_queue(&self) -> String {
        format!("{}-webhooks", self.prefix)
    }
    pub fn webhook_table(&self) -> String {
        format!("{}-webhooks", self.prefix)
    }
    pub fn key_alias(&self) -> String {
        format!("alias/{}-signer", self.prefix)
    }

    /// Lane `lane`'s key on another chain than the first.
    pub fn chain_key_alias(&self, chain_id: u64, lane: usize) -> String {
        format!(
            "alias/{}-chain-{chain_id}-signer-lane-{}",
            self.prefix,
            lane + 1
        )
    }

    /// Lane `lane`'s key (the first lane's is [`Names::key_alias`]).
    pub fn lane_key_alias(&self, lane: usize) -> String {
        match lane {
            0 => self.key_alias(),
            n => format!("alias/{}-signer-lane-{}", self.prefix, n + 1),
        }
    }
}

/// What provisioning found or made.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub table_name: String,
    /// Webhook endpoints and delivery logs: a table of their own, as on AWS.
    pub webhook_table_name: String,
    pub topic_arn: String,
    pub sign_queue_url: String,
    pub sign_dlq_url: String,
    pub broadcast_queue_url: String,
    pub broadcast_dlq_url: String,
    /// Operators' retries: consumed beside the main queues, so never behind their backlog.
    pub sign_priority_queue_url: String,
    pub broadcast_priority_queue_url: String,
    /// Webhook deliveries, and where those whose last attempt failed are kept.
    pub webhook_queue_url: String,
    pub webhook_dlq_url: String,
    /// The first lane's key and address.
    pub kms_key_id: String,
    pub signer_address: Address,
    /// Every lane's key and address, the first lane's first.
    pub kms_key_ids: Vec<String>,
    pub signer_addresses: Vec<Address>,
    pub chain_id: u64,
    pub target_contract: Address,
    pub rpc_url: String,
    /// Chains served beside the first ([`provision_chain`]); none unless asked for.
    pub more_chains: Vec<ProvisionedChain>,
}

/// Another chain served beside the first: its node, its keys (a lane each, funded there) and
/// its target contract.
#[derive(Debug, Clone)]
pub struct ProvisionedChain {
    pub chain_id: u64,
    pub rpc_url: String,
    pub kms_key_ids: Vec<String>,
    pub signer_addresses: Vec<Address>,
    pub target_contract: Address,
}

/// Keys for another chain, a lane each, funded on its node, and its target deployed: add the
/// result to [`Provisioned::more_chains`].
pub async fn provision_chain(
    sdk: &SdkConfig,
    names: &Names,
    rpc_url: &str,
    target_contract: Address,
    lanes: usize,
) -> Result<ProvisionedChain, DevError> {
    let kms = aws_sdk_kms::Client::new(sdk);
    let node = connect(rpc_url)?;
    let chain_id = node.get_chain_id().await.map_err(rpc("eth_chainId"))?;
    let aliases = (0..lanes.max(1)).map(|lane| names.chain_key_alias(chain_id, lane));
    let (kms_key_ids, signer_addresses) = ensure_lanes(&kms, &node, aliases).await?;
    deploy_target(&node, target_contract).await?;
    Ok(ProvisionedChain {
        chain_id,
        rpc_url: rpc_url.to_owned(),
        kms_key_ids,
        signer_addresses,
        target_contract,
    })
}

/// A key per alias (made if missing), each funded on `node`: the ids and addresses, in order.
async fn ensure_lanes(
    kms: &aws_sdk_kms::Client,
    node: &RootProvider,
    aliases: impl Iterator<Item = String>,
) -> Result<(Vec<String>, Vec<Address>), DevError> {
    let mut kms_key_ids = Vec::new();
    let mut signer_addresses = Vec::new();
    for (lane, alias) in aliases.enumerate() {
        let key_id = ensure_signing_key(kms, &alias).await?;
        let address = KmsSigner::new(kms.clone(), &key_id)
            .address()
            .await
            .map_err(|e| DevError::Provision(format!("signing key of lane {}: {e}", lane + 1)))?;
        fund(node, address).await?;
        kms_key_ids.push(key_id);
        signer_addresses.push(address);
    }
    Ok((kms_key_ids, signer_addresses))
}

/// `max_receive_count` is the redrive policy's cap; it must equal the functions' `MAX_ATTEMPTS`.
/// One lane (signing key).
pub async fn provision(
    sdk: &SdkConfig,
    names: &Names,
    rpc_url: &str,
    target_contract: Address,
    max_receive_count: u32,
) -> Result<Provisioned, DevError> {
    provision_lanes(sdk, names, rpc_url, target_contract, max_receive_count, 1).await
}

/// [`provision`] with `lanes` signing keys (at least one), each funded on the node.
pub async fn provision_lanes(
    sdk: &SdkConfig,
    names: &Names,
    rpc_url: &str,
    target_contract: Address,
    max_receive_count: u32,
    lanes: usize,
) -> Result<Provisioned, DevError> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let sns = aws_sdk_sns::Client::new(sdk);
    let kms = aws_sdk_kms::Client::new(sdk);

    ensure_table(&dynamo, &names.table()).await?;
    ensure_key_table(&dynamo, &names.webhook_table()).await?;
    let topic_arn = sns
        .create_topic()
        .name(names.topic())
        .send()
        .await
        .map_err(aws("create topic"))?
        .topic_arn
        .ok_or_else(|| DevError::Provision("create_topic returned no ARN".into()))?;
    let (sign_queue_url, sign_dlq_url) =
        ensure_queue_with_dlq(&sqs, &names.sign_queue(), max_receive_count).await?;
    let (broadcast_queue_url, broadcast_dlq_url) =
        ensure_queue_with_dlq(&sqs, &names.broadcast_queue(), max_receive_count).await?;
    let sign_priority_queue_url = ensure_queue_redriving_to(
        &sqs,
        &format!("{}-priority", names.sign_queue()),
        &sign_dlq_url,
        max_receive_count,
    )
    .await?;
    let broadcast_priority_queue_url = ensure_queue_redriving_to(
        &sqs,
        &format!("{}-priority", names.broadcast_queue()),
        &broadcast_dlq_url,
        max_receive_count,
    )
    .await?;
    let (webhook_queue_url, webhook_dlq_url) =
        ensure_queue_with_dlq(&sqs, &names.webhook_queue(), crate::WEBHOOK_MAX_ATTEMPTS).await?;
    ensure_subscription(&sns, &sqs, &topic_arn, &sign_queue_url).await?;
    let node = connect(rpc_url)?;
    let chain_id = node.get_chain_id().await.map_err(rpc("eth_chainId"))?;
    let aliases = (0..lanes.max(1)).map(|lane| names.lane_key_alias(lane));
    let (kms_key_ids, signer_addresses) = ensure_lanes(&kms, &node, aliases).await?;
    let (kms_key_id, signer_address) = (kms_key_ids[0].clone(), signer_addresses[0]);
    deploy_target(&node, target_contract).await?;

    Ok(Provisioned {
        table_name: names.table(),
        webhook_table_name: names.webhook_table(),
        topic_arn,
        sign_queue_url,
        sign_dlq_url,
        broadcast_queue_url,
        broadcast_dlq_url,
        sign_priority_queue_url,
        broadcast_priority_queue_url,
        webhook_queue_url,
        webhook_dlq_url,
        kms_key_id,
        signer_address,
        kms_key_ids,
        signer_addresses,
        chain_id,
        target_contract,
        rpc_url: rpc_url.to_owned(),
        more_chains: Vec::new(),
    })
}

fn connect(rpc_url: &str) -> Result<RootProvider, DevError> {
    let url = rpc_url
        .parse()
        .map_err(|e| DevError::Provision(format!("RPC URL `{rpc_url}`: {e}")))?;
    let http = tx_shared::tls::reqwest_builder()
        .build()
        .map_err(|e| DevError::Provision(format!("HTTP client: {e}")))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_reqwest(http, url)
        .root()
        .clone())
}

/// A table keyed by `pk` alone, without indexes or stream (`infra/webhooks.tf`'s).
async fn ensure_key_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), DevError> {
    if client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let build = |e: aws_sdk_dynamodb::error::BuildError| DevError::Provision(e.to_string());
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .map_err(build)?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {}
        // Another provisioner may have won the race.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws("create table")(e)),
    }
    wait_until_active(client, table).await
}

async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), DevError> {
    let described = client.describe_table().table_name(table).send().await.ok();
    let exists = described.is_some();
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| DevError::Provision(e.to_string()))
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(|e| DevError::Provision(e.to_string()))
    };
    // `(index, hash key, range key, range key's type)`: what `infra/storage.tf` declares.
    let indexes = [
        (INDEX_BY_STATUS, "status", "id", ScalarAttributeType::S),
        (INDEX_BY_CREATED, "kind", "id", ScalarAttributeType::S),
        (INDEX_BY_CLIENT, "client_id", "id", ScalarAttributeType::S),
        (
            INDEX_BY_NONCE,
            "nonce_account",
            "nonce",
            ScalarAttributeType::N,
        ),
    ];
    let index = |name: &str, hash: &str, range: &str| -> Result<GlobalSecondaryIndex, DevError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash)?)
            .key_schema(key(range, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| DevError::Provision(e.to_string()))
    };
    // A table made before an index existed lacks it: add it in place.
    let present: Vec<String> = described
        .and_then(|d| d.table)
        .map(|t| {
            t.global_secondary_indexes()
                .iter()
                .filter_map(|i| i.index_name().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for (name, hash, range, range_kind) in indexes.iter().cloned() {
        if !exists || present.iter().any(|p| p == name) {
            continue;
        }
        let created = index(name, hash, range)?;
        let update = GlobalSecondaryIndexUpdate::builder()
            .create(
                CreateGlobalSecondaryIndexAction::builder()
                    .index_name(name)
                    .set_key_schema(Some(created.key_schema().to_vec()))
                    .set_projection(created.projection().cloned())
                    .build()
                    .map_err(|e| DevError::Provision(e.to_string()))?,
            )
            .build();
        client
            .update_table()
            .table_name(table)
            .attribute_definitions(attribute(hash, ScalarAttributeType::S)?)
            .attribute_definitions(attribute(range, range_kind)?)
            .global_secondary_index_updates(update)
            .send()
            .await
            .map_err(|e| {
                DevError::Provision(format!(
                    "table {table} predates the {name} index and it could not be added ({}); `make clean-dev` starts afresh",
                    tx_shared::aws::describe(&e)
                ))
            })?;
    }
    if !exists {
        let mut create = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .attribute_definitions(attribute("pk", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("id", ScalarAttributeType::S)?);
        for (name, hash, range, range_kind) in indexes.iter().cloned() {
            create = create
                .attribute_definitions(attribute(hash, ScalarAttributeType::S)?)
                .global_secondary_indexes(index(name, hash, range)?);
            if range != "id" {
                create = create.attribute_definitions(attribute(range, range_kind)?);
            }
        }
        let created = create
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .map_err(|e| DevError::Provision(e.to_string()))?,
            )
            .send()
            .await;
        if let Err(e) = created {
            // Another provisioner may have won the race.
            let in_use = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception());
            if !in_use {
                return Err(aws("create table")(e));
            }
        }
    }
    wait_until_active(client, table).await
}

/// Waits (at most 60 s) until the table and every index of it are active.
async fn wait_until_active(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), DevError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(aws("describe table"))?
            .table;
        // Indexes too: one being added can't be queried until it is active.
        let indexes_ready = status.as_ref().is_some_and(|t| {
            t.global_secondary_indexes()
                .iter()
                .all(|i| i.index_status().is_none_or(|s| *s == IndexStatus::Active))
        });
        let status = status.and_then(|t| t.table_status);
        if status == Some(TableStatus::Active) && indexes_ready {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DevError::Provision(format!(
                "table {table} not active after 60 s: {status:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Returns `(queue_url, dlq_url)`.
async fn ensure_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> Result<(String, String), DevError> {
    let dlq_url = ensure_queue(
        client,
        &format!("{name}-dlq"),
        vec![
            (QueueAttributeName::MessageRetentionPeriod, "1209600".into()),
            (
                QueueAttributeName::VisibilityTimeout,
                DLQ_VISIBILITY_TIMEOUT_SECONDS.to_string(),
            ),
        ],
    )
    .await?;
    let url = ensure_queue_redriving_to(client, name, &dlq_url, max_receive_count).await?;
    Ok((url, dlq_url))
}

/// A queue whose messages go to `dlq_url` after `max_receive_count` deliveries.
async fn ensure_queue_redriving_to(
    client: &aws_sdk_sqs::Client,
    name: &str,
    dlq_url: &str,
    max_receive_count: u32,
) -> Result<String, DevError> {
    let dlq_arn = queue_arn(client, dlq_url).await?;
    let redrive =
        json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string();
    ensure_queue(
        client,
        name,
        vec![
            (
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECONDS.to_string(),
            ),
            (QueueAttributeName::MessageRetentionPeriod, "345600".into()),
            (QueueAttributeName::RedrivePolicy, redrive),
        ],
    )
    .await
}

async fn ensure_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    attributes: Vec<(QueueAttributeName, String)>,
) -> Result<String, DevError> {
    let existing = client
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .ok()
        .and_then(|found| found.queue_url);
    if let Some(url) = existing {
        // Keep the attributes current on a reused queue.
        client
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(attributes.into_iter().collect()))
            .send()
            .await
            .map_err(aws("set queue attributes"))?;
        return Ok(url);
    }
    client
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes.into_iter().collect()))
        .send()
        .await
        .map_err(aws("create queue"))?
        .queue_url
        .ok_or_else(|| DevError::Provision(format!("create_queue {name} returned no URL")))
}

pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, DevError> {
    client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws("get queue ARN"))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| DevError::Provision(format!("queue {url} has no ARN")))
}

async fn ensure_subscription(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    queue_url: &str,
) -> Result<(), DevError> {
    let queue_arn = queue_arn(sqs, queue_url).await?;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowRequestsTopic",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .map_err(aws("set queue policy"))?;
    let existing = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic_arn)
        .send()
        .await
        .map_err(aws("list subscriptions"))?;
    let subscribed = existing
        .subscriptions()
        .iter()
        .any(|s| s.endpoint() == Some(queue_arn.as_str()));
    if !subscribed {
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(aws("subscribe queue"))?;
    }
    Ok(())
}

async fn ensure_signing_key(kms: &aws_sdk_kms::Client, alias: &str) -> Result<String, DevError> {
    let mut marker = None;
    loop {
        let page = kms
            .list_aliases()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(aws("list aliases"))?;
        if let Some(key_id) = page
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(alias))
            .and_then(|a| a.target_key_id())
        {
            return Ok(key_id.to_owned());
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_owned()),
            _ => break,
        }
    }
    let key_id = kms
        .create_key()
        .key_spec(KeySpec::EccSecgP256K1)
        .key_usage(KeyUsageType::SignVerify)
        .description("tx-broadcaster transaction signing key (local)")
        .send()
        .await
        .map_err(aws("create key"))?
        .key_metadata
        .map(|m| m.key_id)
        .ok_or_else(|| DevError::Provision("create_key returned no key".into()))?;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(&key_id)
        .send()
        .await
        .map_err(aws("create alias"))?;
    Ok(key_id)
}

async fn fund(node: &RootProvider, address: Address) -> Result<(), DevError> {
    let balance = node
        .get_balance(address)
        .await
        .map_err(rpc("eth_getBalance"))?;
    if balance < U256::from(SIGNER_BALANCE_WEI / 2) {
        let _: serde_json::Value = node
            .raw_request(
                "anvil_setBalance".into(),
                (address, U256::from(SIGNER_BALANCE_WEI)),
            )
            .await
            .map_err(rpc("anvil_setBalance"))?;
    }
    Ok(())
}

/// The local target is a contract that accepts any call (`STOP`), so calls succeed and are
/// visibly contract calls.
async fn deploy_target(node: &RootProvider, target: Address) -> Result<(), DevError> {
    let code = node.get_code_at(target).await.map_err(rpc("eth_getCode"))?;
    if code.is_empty() {
        let _: serde_json::Value = node
            .raw_request("anvil_setCode".into(), (target, "0x00"))
            .await
            .map_err(rpc("anvil_setCode"))?;
    }
    Ok(())
}

fn aws<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> DevError {
    move |e| DevError::Provision(format!("{what}: {e:?}"))
}

fn rpc<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> DevError {
    move |e| DevError::Provision(format!("{what}: {e}"))
}
