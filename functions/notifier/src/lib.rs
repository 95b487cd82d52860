//! Notifier: every change to a transaction reaches the status page live.
//!
//! On AWS it is one Lambda for two event sources: the table's DynamoDB stream (each changed
//! transaction is read and pushed to every open WebSocket connection through API Gateway's
//! `@connections` API), and the WebSocket API's `$connect`/`$disconnect` routes (which keep the
//! connection list in the table). Locally, the runner feeds the same [`Notifier`] from the
//! emulator's stream and pushes to its own WebSocket hub.

use std::future::Future;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::event::apigw::{
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayWebsocketProxyRequest,
};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use tx_shared::adapters::dynamo::{CONNECTION_KIND, DynamoStore, INDEX_BY_CREATED, connection_pk};
use tx_shared::aws::AwsClients;
use tx_shared::config::{ConfigError, Env};
use tx_shared::domain::{Status, Transaction, TxId};
use tx_shared::jwt::{JwtVerifier, Operator};
use tx_shared::ports::{Reading, StoreError};
use tx_shared::stream::{
    TransactionRecord, string_attribute as text, transaction_of_record, transaction_records,
};
use tx_shared::view::TransactionView;

/// What can go wrong, by where.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The connections' records or API Gateway's `@connections` API.
    #[error("the WebSocket connections: {0}")]
    Connections(String),
    #[error("not an event the notifier takes: {0}")]
    UnknownEvent(String),
    #[error("the operators' keys: {0}")]
    Keys(#[from] tx_shared::jwt::JwtError),
}

/// The three events the notifier Lambda receives.
#[derive(Debug)]
pub enum NotifierEvent {
    /// The WebSocket API's `$connect` authorizer: is the token an operator's?
    Authorize(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// `$connect` (once authorized) and `$disconnect`.
    Route(Box<ApiGatewayWebsocketProxyRequest>),
    /// A batch of the table's stream.
    Stream(StreamEvent),
}

impl NotifierEvent {
    /// Tells the events apart by what only each has, then reads it as its type. The
    /// authorizer's event carries a route key too, so it is recognised first.
    pub fn parse(event: Value) -> Result<Self, NotifyError> {
        let typed = |e: serde_json::Error| NotifyError::UnknownEvent(e.to_string());
        if event.get("type").and_then(Value::as_str) == Some("REQUEST")
            && event.get("methodArn").is_some()
        {
            return serde_json::from_value(event)
                .map(|e| NotifierEvent::Authorize(Box::new(e)))
                .map_err(typed);
        }
        if event.pointer("/requestContext/routeKey").is_some() {
            return serde_json::from_value(event)
                .map(|e| NotifierEvent::Route(Box::new(e)))
                .map_err(typed);
        }
        if event.get("Records").is_some() {
            return serde_json::from_value(event)
                .map(NotifierEvent::Stream)
                .map_err(typed);
        }
        Err(NotifyError::UnknownEvent(
            "neither a stream batch, a WebSocket route, nor its authorizer".into(),
        ))
    }
}

/// Where updates go: every open connection of the status page.
pub trait UpdateSink: Send + Sync {
    /// Sends one JSON message to every connection; returns how many got it.
    fn push(&self, message: &str) -> impl Future<Output = Result<usize, NotifyError>> + Send;
}

pub struct Notifier<S, K> {
    pub store: S,
    pub sink: K,
}

impl<S: Reading, K: UpdateSink> Notifier<S, K> {
    /// Pushes each changed transaction's view: as its newest image shows it, or as the table
    /// has it when no image could be read.
    pub async fn notify(&self, changed: &[Changed]) -> Result<(), NotifyError> {
        for change in changed {
            let tx = match change {
                Changed::Image(tx) => tx.as_ref().clone(),
                Changed::Id(id) => match self.store.get(*id).await? {
                    Some(tx) => tx,
                    // Withdrawn (a failed publish): nothing to show.
                    None => continue,
                },
            };
            let message =
                json!({ "type": "transaction", "transaction": TransactionView::from(&tx) })
                    .to_string();
            let reached = self.sink.push(&message).await?;
            tracing::debug!(transaction_id = %tx.id, reached, "pushed");
        }
        Ok(())
    }
}

/// A transaction a stream batch changed: its newest image (the table's stream carries new
/// images, so showing it costs no read), or its id alone when the batch has no image of it
/// that reads as a transaction (a removal, or an image this release can't read): then it is
/// read from the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    Image(Box<Transaction>),
    Id(TxId),
}

impl Changed {
    pub fn id(&self) -> TxId {
        match self {
            Changed::Image(tx) => tx.id,
            Changed::Id(id) => *id,
        }
    }

    /// The change a record of `id` shows: its new image, read as a transaction, if it reads.
    pub fn of_image(id: TxId, image: Option<Transaction>) -> Changed {
        match image {
            Some(tx) if tx.id == id => Changed::Image(Box::new(tx)),
            _ => Changed::Id(id),
        }
    }
}

/// Each transaction's newest change, in the order the transactions first appear: a stream
/// keeps each item's records in order, so a later record of a transaction replaces an earlier.
pub fn newest_per_transaction(records: impl IntoIterator<Item = Changed>) -> Vec<Changed> {
    let mut changed: Vec<Changed> = Vec::new();
    for change in records {
        match changed.iter_mut().find(|c| c.id() == change.id()) {
            Some(earlier) => *earlier = change,
            None => changed.push(change),
        }
    }
    changed
}

/// The transactions a DynamoDB stream event is about, once each, as their newest images show
/// them.
pub fn changed_transactions(event: &StreamEvent) -> Vec<Changed> {
    BatchRead::of(event).changed()
}

/// A stream batch's records about transactions, each image read once, for both what the batch
/// shows ([`BatchRead::changed`]) and what it counts ([`BatchRead::progress`]).
pub struct BatchRead(Vec<TransactionRecord>);

impl BatchRead {
    pub fn of(event: &StreamEvent) -> Self {
        BatchRead(transaction_records(event))
    }

    /// Each transaction once, as its newest image shows it.
    pub fn changed(&self) -> Vec<Changed> {
        newest_per_transaction(
            self.0
                .iter()
                .map(|record| Changed::of_image(record.id, record.new.clone())),
        )
    }

    /// What the batch did to transactions, for the pipeline's metrics: each record's old and
    /// new image.
    pub fn progress(&self) -> tx_shared::metrics::Progress {
        let mut progress = tx_shared::metrics::Progress::default();
        for record in &self.0 {
            if let Some(kind) = record.change {
                progress.change(kind, record.old.as_ref(), record.new.as_ref());
            }
        }
        progress
    }
}

/// The transactions a stream event moves into `needs_review`, whatever moved them there (the
/// dead-letter queue, a permanent refusal, the attempt cap, an old path nobody listed): each
/// needs a human, and each is counted for the alarm.
pub fn entered_review(event: &StreamEvent) -> Vec<TxId> {
    let review = Some(Status::NeedsReview.as_str());
    event
        .records
        .iter()
        .filter(|r| {
            text(&r.change.new_image, "status") == review
                && text(&r.change.old_image, "status") != review
        })
        .filter_map(transaction_of_record)
        .collect()
}

/// What a stream batch did to transactions, for the pipeline's metrics.
pub fn progress(event: &StreamEvent) -> tx_shared::metrics::Progress {
    BatchRead::of(event).progress()
}

/// `TX#<id>` is a transaction; other items (nonce counters, idempotency keys) are not shown.
pub use tx_shared::adapters::dynamo::transaction_of_pk as transaction_of_key;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    /// The WebSocket API's management endpoint: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`.
    pub websocket_endpoint: String,
    /// The operators' user pool (`https://cognito-idp.{region}.amazonaws.com/{pool id}`) and
    /// the status page's app client: `$connect` lets in only their access tokens.
    pub cognito_issuer: String,
    pub cognito_client_id: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.required("TABLE_NAME")?,
            websocket_endpoint: env.required("WEBSOCKET_ENDPOINT")?,
            cognito_issuer: env.required("COGNITO_ISSUER")?,
            cognito_client_id: env.required("COGNITO_CLIENT_ID")?,
        })
    }
}

/// The `$connect` authorizer's answer: an IAM policy for this connection, allowing it only
/// for an operator's valid token. A refusal is an answer (403 to the browser), not an error.
pub fn authorizer_policy(method_arn: &str, operator: Option<&Operator>) -> Value {
    let effect = if operator.is_some() { "Allow" } else { "Deny" };
    let principal = operator.map_or("anonymous", |o| o.subject.as_str());
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{ "Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn }],
        },
        "context": { "username": operator.map_or("", |o| o.username.as_str()) },
    })
}

/// Open connections live in the table as `CONN#<id>` items (listed through the `by_created`
/// index under `kind = "conn"`), expiring by TTL in case a `$disconnect` is missed.
pub struct ApiGatewayConnections {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    management: aws_sdk_apigatewaymanagement::Client,
}

const CONNECTION_TTL: Duration = Duration::from_secs(2 * 3600);

impl ApiGatewayConnections {
    pub fn from_aws(config: &Config, clients: &AwsClients, sdk: &SdkConfig) -> Self {
        let management = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(&config.websocket_endpoint)
            .build();
        ApiGatewayConnections {
            dynamo: clients.dynamodb.clone(),
            table: config.table_name.clone(),
            management: aws_sdk_apigatewaymanagement::Client::from_conf(management),
        }
    }

    pub async fn connected(&self, connection_id: &str) -> Result<(), NotifyError> {
        let expires =
            time::OffsetDateTime::now_utc().unix_timestamp() + CONNECTION_TTL.as_secs() as i64;
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(connection_pk(connection_id)))
            .item("kind", AttributeValue::S(CONNECTION_KIND.into()))
            .item("id", AttributeValue::S(connection_id.into()))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Connections(tx_shared::aws::describe(&e)))
    }

    pub async fn disconnected(&self, connection_id: &str) -> Result<(), NotifyError> {
        self.dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(connection_pk(connection_id)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| NotifyError::Connections(tx_shared::aws::describe(&e)))
    }

    async fn connections(&self) -> Result<Vec<String>, NotifyError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamo
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_CREATED)
                .key_condition_expression("kind = :conn")
                .expression_attribute_values(":conn", AttributeValue::S(CONNECTION_KIND.into()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| NotifyError::Connections(tx_shared::aws::describe(&e)))?;
            ids.extend(
                out.items
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|item| item.get("id")?.as_s().ok().cloned()),
            );
            match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) => start = Some(key),
                None => return Ok(ids),
            }
        }
    }
}

impl UpdateSink for ApiGatewayConnections {
    async fn push(&self, message: &str) -> Result<usize, NotifyError> {
        let mut reached = 0;
        for connection in self.connections().await? {
            let sent = self
                .management
                .post_to_connection()
                .connection_id(&connection)
                .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(
                    message.as_bytes(),
                ))
                .send()
                .await;
            match sent {
                Ok(_) => reached += 1,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                    // The browser went away without a `$disconnect`.
                    let _ = self.disconnected(&connection).await;
                }
                Err(e) => {
                    tracing::warn!(connection, error = %tx_shared::aws::describe(&e), "push failed")
                }
            }
        }
        Ok(reached)
    }
}

/// The AWS notifier, with the `$connect` authorizer.
pub struct AwsNotifier {
    pub notifier: Notifier<DynamoStore, ApiGatewayConnections>,
    pub operators: JwtVerifier,
}

impl AwsNotifier {
    pub fn from_aws(
        config: &Config,
        clients: &AwsClients,
        sdk: &SdkConfig,
    ) -> Result<Self, NotifyError> {
        Ok(AwsNotifier {
            notifier: Notifier {
                store: DynamoStore::new(clients.dynamodb.clone(), &config.table_name),
                sink: ApiGatewayConnections::from_aws(config, clients, sdk),
            },
            operators: JwtVerifier::new(
                &config.cognito_issuer,
                &config.cognito_client_id,
                Duration::from_secs(5),
            )?,
        })
    }

    /// One Lambda event: the `$connect` authorizer, a stream batch, or a WebSocket route.
    pub async fn handle(&self, event: Value) -> Result<Value, NotifyError> {
        match NotifierEvent::parse(event)? {
            NotifierEvent::Authorize(request) => {
                let token = request
                    .query_string_parameters
                    .first("token")
                    .unwrap_or_default();
                let operator = match self.operators.verify(token).await {
                    Ok(operator) => Some(operator),
                    Err(e) => {
                        tracing::warn!(reason = %e, "WebSocket connection refused");
                        None
                    }
                };
                let method_arn = request.method_arn.as_deref().unwrap_or_default();
                Ok(authorizer_policy(method_arn, operator.as_ref()))
            }
            NotifierEvent::Route(request) => {
                let context = &request.request_context;
                let connection = context.connection_id.as_deref().ok_or_else(|| {
                    NotifyError::UnknownEvent("a WebSocket route without a connection id".into())
                })?;
                let sink = &self.notifier.sink;
                match context.route_key.as_deref() {
                    Some("$connect") => sink.connected(connection).await?,
                    Some("$disconnect") => sink.disconnected(connection).await?,
                    _ => {}
                }
                Ok(json!({ "statusCode": 200 }))
            }
            NotifierEvent::Stream(batch) => {
                // The review alarm first, whatever becomes of the live feed: counting one twice
                // costs nothing (it fires at 1), missing one pages nobody.
                for id in entered_review(&batch) {
                    tx_shared::metrics::needs_review(id);
                }
                // Each image read once, for the push and the counts.
                let read = BatchRead::of(&batch);
                self.notifier.notify(&read.changed()).await?;
                // The progress counts only once the batch succeeded: a failed batch is
                // delivered again (twice at most), and counted then.
                let progress = read.progress();
                progress.emit();
                progress.keep(&self.notifier.store).await;
                Ok(json!({}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authorizer_allows_only_a_verified_operator() {
        let arn = "arn:aws:execute-api:us-east-1:1:api/live/$connect";
        let denied = authorizer_policy(arn, None);
        assert_eq!(denied["policyDocument"]["Statement"][0]["Effect"], "Deny");
        assert_eq!(denied["policyDocument"]["Statement"][0]["Resource"], arn);
        let operator = Operator {
            subject: "sub-1".into(),
            username: "alice".into(),
        };
        let allowed = authorizer_policy(arn, Some(&operator));
        assert_eq!(allowed["policyDocument"]["Statement"][0]["Effect"], "Allow");
        assert_eq!(allowed["principalId"], "sub-1");
        assert_eq!(allowed["context"]["username"], "alice");
    }

    /// A stream record as Lambda delivers it.
    fn record(name: &str, keys: Value) -> Value {
        json!({
            "eventID": "1", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
            "dynamodb": { "Keys": keys, "SizeBytes": 64, "SequenceNumber": "1" }
        })
    }

    /// A MODIFY of a transaction from one status to another, with its images.
    fn moved(id: TxId, from: &str, to: &str) -> Value {
        let pk = json!({ "S": format!("TX#{id}") });
        json!({
            "eventID": "2", "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/t/stream/s",
            "dynamodb": {
                "Keys": { "pk": pk },
                "OldImage": { "pk": pk, "status": { "S": from } },
                "NewImage": { "pk": pk, "status": { "S": to } },
                "SizeBytes": 64, "SequenceNumber": "2"
            }
        })
    }

    #[test]
    fn only_a_move_into_review_counts_for_the_alarm() {
        let (into, stays, out) = (TxId::generate(), TxId::generate(), TxId::generate());
        let event = json!({ "Records": [
            moved(into, "broadcast", "needs_review"),
            moved(stays, "needs_review", "needs_review"),
            moved(out, "needs_review", "retrying"),
            record("MODIFY", json!({ "pk": { "S": "NONCE#1#0xabc" } })),
        ]});
        let Ok(NotifierEvent::Stream(batch)) = NotifierEvent::parse(event) else {
            panic!("not a stream batch");
        };
        assert_eq!(entered_review(&batch), vec![into]);
    }

    #[test]
    fn stream_records_name_their_transactions_once() {
        let id = TxId::generate();
        let tx = json!({ "pk": { "S": format!("TX#{id}") } });
        let event = json!({ "Records": [
            record("INSERT", tx.clone()),
            record("MODIFY", tx),
            record("MODIFY", json!({ "pk": { "S": "NONCE#1#0xabc" } })),
            record("INSERT", json!({ "pk": { "S": "IDEM#alice#k" } })),
            record("INSERT", json!({})),
        ]});
        let batch = match NotifierEvent::parse(event) {
            Ok(NotifierEvent::Stream(batch)) => batch,
            other => panic!("not a stream batch: {other:?}"),
        };
        assert_eq!(changed_transactions(&batch), vec![Changed::Id(id)]);
        let Ok(NotifierEvent::Stream(empty)) = NotifierEvent::parse(json!({ "Records": [] }))
        else {
            panic!("not a stream batch");
        };
        assert!(changed_transactions(&empty).is_empty());
    }

    /// An SDK item as a stream's DynamoDB JSON.
    fn stream_json(value: &aws_sdk_dynamodb::types::AttributeValue) -> Value {
        use aws_sdk_dynamodb::types::AttributeValue as Sdk;
        match value {
            Sdk::S(s) => json!({ "S": s }),
            Sdk::N(n) => json!({ "N": n }),
            Sdk::Bool(b) => json!({ "BOOL": b }),
            Sdk::Null(b) => json!({ "NULL": b }),
            Sdk::L(l) => json!({ "L": l.iter().map(stream_json).collect::<Vec<_>>() }),
            Sdk::M(m) => {
                json!({ "M": m.iter().map(|(k, v)| (k.clone(), stream_json(v))).collect::<serde_json::Map<_, _>>() })
            }
            other => panic!("no such attribute in a transaction: {other:?}"),
        }
    }

    #[test]
    fn a_batch_counts_what_each_write_appended_from_its_old_and_new_image() {
        let received = Transaction::received(&tx_fakes::ping_request());
        let mut signed = Transaction {
            status: Status::Signed,
            ..received.clone()
        };
        signed.history.push(tx_shared::domain::HistoryEntry::now(
            tx_shared::domain::Event::Signed,
        ));
        // The whole item, as the stream shows it: its history too (written by appending).
        let image = |tx: &Transaction| {
            use tx_shared::adapters::dynamo::item::{history_to_attribute, to_item};
            let mut item = to_item(tx);
            let history = tx.history.iter().map(history_to_attribute).collect();
            item.insert(
                "history".into(),
                aws_sdk_dynamodb::types::AttributeValue::L(history),
            );
            Value::Object(
                item.iter()
                    .map(|(k, v)| (k.clone(), stream_json(v)))
                    .collect(),
            )
        };
        let pk = json!({ "S": format!("TX#{}", received.id) });
        let change = |name: &str, old: Option<&Transaction>, new: &Transaction| {
            let mut record = record(name, json!({ "pk": pk }));
            record["dynamodb"]["NewImage"] = image(new);
            if let Some(old) = old {
                record["dynamodb"]["OldImage"] = image(old);
            }
            record
        };
        let mut withdrawn = record("REMOVE", json!({ "pk": pk }));
        withdrawn["dynamodb"]["OldImage"] = image(&received);
        let event = json!({ "Records": [
            change("INSERT", None, &received),
            change("MODIFY", Some(&received), &signed),
            // Written again with nothing appended: nothing counted.
            change("MODIFY", Some(&signed), &signed),
            record("REMOVE", json!({ "pk": pk })),
            withdrawn,
        ]});
        let Ok(NotifierEvent::Stream(batch)) = NotifierEvent::parse(event) else {
            panic!("not a stream batch");
        };
        let lines = progress(&batch).lines(time::OffsetDateTime::now_utc());
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["ChainId"], received.chain_id.to_string());
        assert_eq!(lines[0]["Accepted"], 1);
        assert_eq!(lines[0]["Signed"], 1);
        assert_eq!(lines[0]["Withdrawn"], 1);
        assert_eq!(
            lines[0]["AcceptedToSignedSeconds"].as_array().map(Vec::len),
            Some(1)
        );
    }

    /// Pushed messages, as the status page's connections would get them.
    #[derive(Default)]
    struct Pushed(std::sync::Mutex<Vec<Value>>);

    impl UpdateSink for Pushed {
        async fn push(&self, message: &str) -> Result<usize, NotifyError> {
            let mut pushed = self.0.lock().unwrap_or_else(|e| e.into_inner());
            pushed.push(serde_json::from_str(message).unwrap_or_default());
            Ok(1)
        }
    }

    #[tokio::test]
    async fn a_batch_shows_each_transactions_newest_image_without_reading_it() {
        let received = Transaction::received(&tx_fakes::ping_request());
        let signed = Transaction {
            status: Status::Signed,
            ..received.clone()
        };
        let image = |tx: &Transaction| {
            Value::Object(
                tx_shared::adapters::dynamo::item::to_item(tx)
                    .iter()
                    .map(|(k, v)| (k.clone(), stream_json(v)))
                    .collect(),
            )
        };
        let pk = json!({ "S": format!("TX#{}", received.id) });
        let with_image = |name: &str, new: Value| {
            let mut record = record(name, json!({ "pk": pk }));
            record["dynamodb"]["NewImage"] = new;
            record
        };
        let withdrawn = TxId::generate();
        let event = json!({ "Records": [
            with_image("INSERT", image(&received)),
            with_image("MODIFY", image(&signed)),
            record("REMOVE", json!({ "pk": { "S": format!("TX#{withdrawn}") } })),
        ]});
        let Ok(NotifierEvent::Stream(batch)) = NotifierEvent::parse(event) else {
            panic!("not a stream batch");
        };
        let changed = changed_transactions(&batch);
        assert_eq!(
            changed,
            vec![
                Changed::Image(Box::new(signed.clone())),
                Changed::Id(withdrawn)
            ]
        );
        // The table has neither: the image is shown as it is, the removed one is not shown.
        let notifier = Notifier {
            store: tx_shared::adapters::memory::MemoryStore::new(),
            sink: Pushed::default(),
        };
        notifier
            .notify(&changed)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let pushed = notifier
            .sink
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        assert_eq!(pushed.len(), 1, "{pushed:?}");
        assert_eq!(
            pushed[0]["transaction"]["transaction_id"],
            received.id.to_string()
        );
        assert_eq!(pushed[0]["transaction"]["status"], "signed");
    }

    #[test]
    fn each_event_is_read_as_its_own_type() {
        let context = |route: &str| {
            json!({
                "routeKey": route, "eventType": "CONNECT", "connectionId": "c-1",
                "connectedAt": 1_795_262_400_000_i64, "requestTimeEpoch": 1_795_262_400_000_i64
            })
        };
        // The authorizer's event carries a route key too: it must not pass for a `$connect`.
        let authorize = json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:1:api/live/$connect",
            "headers": {},
            "queryStringParameters": { "token": "t0ken" },
            "requestContext": context("$connect")
        });
        let request = match NotifierEvent::parse(authorize) {
            Ok(NotifierEvent::Authorize(request)) => request,
            other => panic!("not an authorizer event: {other:?}"),
        };
        assert_eq!(
            request.query_string_parameters.first("token"),
            Some("t0ken")
        );
        let route = match NotifierEvent::parse(json!({ "requestContext": context("$disconnect") }))
        {
            Ok(NotifierEvent::Route(route)) => route,
            other => panic!("not a route: {other:?}"),
        };
        assert_eq!(route.request_context.connection_id.as_deref(), Some("c-1"));
        assert!(matches!(
            NotifierEvent::parse(json!({ "hello": "world" })),
            Err(NotifyError::UnknownEvent(_))
        ));
    }
}
