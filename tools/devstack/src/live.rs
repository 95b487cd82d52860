//! Live updates locally: the emulator's DynamoDB stream feeds the same notifier code as the
//! Lambda on AWS, and a WebSocket hub on the runner's port stands in for API Gateway's
//! WebSocket API. A dev-only switch cuts the WebSocket server side off, so the page's fallback
//! to polling can be seen (and tested).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodbstreams::operation::describe_stream::DescribeStreamError;
use aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, ShardIteratorType,
};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use notifier::{Changed, Notifier, UpdateSink, newest_per_transaction, transaction_of_key};
use tokio::sync::{broadcast, mpsc, watch};
use tx_shared::adapters::dynamo::DynamoStore;
use tx_shared::metrics::Change;
use tx_shared::stream::TransactionRecord;

/// The local stand-in for API Gateway's WebSocket API. Like `$connect` on AWS, it lets in
/// only operators: the socket carries every transaction's changes.
#[derive(Clone)]
pub struct Hub {
    updates: broadcast::Sender<String>,
    /// Off: new upgrades are refused and open sockets are closed.
    serving: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    /// The operators' token: `/ws?token=…` (a browser can't set headers on a WebSocket), and
    /// `Authorization: Bearer …` on the `/_dev` switches.
    admin_token: Arc<str>,
}

impl Hub {
    pub fn new(admin_token: String) -> Self {
        Hub {
            updates: broadcast::channel(1024).0,
            serving: Arc::new(AtomicBool::new(true)),
            cut: watch::channel(0).0,
            admin_token: admin_token.into(),
        }
    }

    /// The channel every pushed change goes to.
    pub(crate) fn updates(&self) -> broadcast::Sender<String> {
        self.updates.clone()
    }

    fn is_admin_token(&self, given: Option<&str>) -> bool {
        given.is_some_and(|token| tx_shared::auth::secrets_equal(token, &self.admin_token))
    }
}

impl UpdateSink for Hub {
    async fn push(&self, message: &str) -> Result<usize, notifier::NotifyError> {
        // No receivers is not an error: nobody is looking.
        Ok(self.updates.send(message.to_owned()).unwrap_or(0))
    }
}

impl Hub {
    /// `GET /ws` and the dev switches `POST /_dev/websocket/{stop,start}`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/ws", get(upgrade))
            .route("/_dev/websocket/stop", post(stop))
            .route("/_dev/websocket/start", post(start))
            .with_state(self.clone())
    }
}

#[derive(serde::Deserialize)]
struct Connect {
    token: Option<String>,
}

/// A page on another origin must not open a socket with the operator's token, so a browser's
/// upgrade (which always says where it comes from) must come from this very host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser: nothing to forge a cross-site request with.
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

async fn upgrade(
    State(hub): State<Hub>,
    Query(connect): Query<Connect>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin WebSocket refused").into_response();
    }
    if connect.token.is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            "the live updates need `?token=<admin token>`",
        )
            .into_response();
    }
    if !hub.is_admin_token(connect.token.as_deref()) {
        return (StatusCode::FORBIDDEN, "the admin token is not valid").into_response();
    }
    if !hub.serving.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the WebSocket server is stopped",
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| serve(hub, socket))
}

async fn serve(hub: Hub, mut socket: WebSocket) {
    let mut updates = hub.updates.subscribe();
    let mut cut = hub.cut.subscribe();
    loop {
        tokio::select! {
            _ = cut.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            update = updates.recv() => match update {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // A slow browser skipped some updates; it catches up from the API.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The `/_dev` switches are the operator's, like every other route that changes something.
fn dev_switch_allowed(hub: &Hub, headers: &HeaderMap) -> Result<(), StatusCode> {
    tx_shared::auth::check_bearer(headers, &hub.admin_token).map_err(|e| match e {
        tx_shared::auth::AuthError::Missing => StatusCode::UNAUTHORIZED,
        tx_shared::auth::AuthError::Invalid => StatusCode::FORBIDDEN,
    })
}

async fn stop(State(hub): State<Hub>, headers: HeaderMap) -> StatusCode {
    if let Err(denied) = dev_switch_allowed(&hub, &headers) {
        return denied;
    }
    hub.serving.store(false, Ordering::SeqCst);
    hub.cut.send_modify(|n| *n += 1);
    StatusCode::NO_CONTENT
}

async fn start(State(hub): State<Hub>, headers: HeaderMap) -> StatusCode {
    if let Err(denied) = dev_switch_allowed(&hub, &headers) {
        return denied;
    }
    hub.serving.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

/// Reads the table's stream like Lambda's event source mapping would, and hands each batch of
/// changed transactions to the notifier.
pub async fn follow_stream(
    streams: aws_sdk_dynamodbstreams::Client,
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    notifier: Notifier<DynamoStore, Hub>,
    emit_metrics: bool,
    webhooks: mpsc::Sender<Vec<TransactionRecord>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut iterators: HashMap<String, Option<String>> = HashMap::new();
    let mut last_shard_refresh = tokio::time::Instant::now() - Duration::from_secs(60);
    loop {
        if *stop.borrow() {
            return;
        }
        if last_shard_refresh.elapsed() > Duration::from_secs(5) {
            last_shard_refresh = tokio::time::Instant::now();
            if let Err(e) = refresh_shards(&streams, &dynamo, &table, &mut iterators).await {
                tracing::warn!(error = %e, "could not read the table's stream; retrying");
            }
        }
        let mut changed = Vec::new();
        let mut records = Vec::new();
        let mut progress = tx_shared::metrics::Progress::default();
        for iterator in iterators.values_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            match streams
                .get_records()
                .shard_iterator(current)
                .limit(1000)
                .send()
                .await
            {
                Ok(out) => {
                    *iterator = out.next_shard_iterator;
                    // As Lambda's event source would hand them over: each record with its
                    // new image, which the notifier shows without reading the table.
                    for record in out.records.unwrap_or_default() {
                        let Some(change) = record.dynamodb.as_ref() else {
                            continue;
                        };
                        let key = change
                            .keys
                            .as_ref()
                            .and_then(|keys| keys.get("pk"))
                            .and_then(|pk| pk.as_s().ok())
                            .and_then(|pk| transaction_of_key(pk));
                        if let Some(id) = key {
                            let transaction = |image: Option<&HashMap<String, StreamValue>>| {
                                let item = image?
                                    .iter()
                                    .map(|(name, value)| (name.clone(), table_value(value)))
                                    .collect();
                                tx_shared::adapters::dynamo::item::from_item(&item).ok()
                            };
                            let image = transaction(change.new_image.as_ref());
                            let old = transaction(change.old_image.as_ref());
                            // The pipeline's metrics, as the notifier publishes them on AWS.
                            let kind = match record.event_name {
                                Some(OperationType::Insert) => Change::Insert,
                                Some(OperationType::Remove) => Change::Remove,
                                _ => Change::Modify,
                            };
                            progress.change(kind, old.as_ref(), image.as_ref());
                            changed.push(Changed::of_image(id, image.clone()));
                            records.push(TransactionRecord {
                                id,
                                change: Some(kind),
                                old,
                                new: image,
                                sequence_number: change.sequence_number.clone(),
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = ?e, "reading the stream failed; re-opening the shard");
                    *iterator = None;
                    last_shard_refresh = tokio::time::Instant::now() - Duration::from_secs(60);
                }
            }
        }
        // Webhooks, as their own consumer of the stream does on AWS: handed over whole, in
        // order; a full hand-over waits here, as a lagging event source mapping would.
        if !records.is_empty() && webhooks.send(records).await.is_err() {
            tracing::warn!("the webhook fan-out stopped; this batch's events are not sent");
        }
        let changed = newest_per_transaction(changed);
        if !changed.is_empty()
            && let Err(e) = notifier.notify(&changed).await
        {
            tracing::warn!(error = %e, "could not push updates");
        }
        if emit_metrics {
            progress.emit();
        }
        // The status page's charts, as the notifier keeps them on AWS.
        progress.keep(&notifier.store).await;
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}

/// The webhook fan-out, as its own event source mapping runs it on AWS: each stream batch in
/// order, retried until it is queued (a failed batch is retried on AWS too), so no event is
/// lost while the emulator is briefly away.
pub fn fan_out(
    webhooks: Arc<webhooks::AwsWebhooks>,
    mut stop: watch::Receiver<bool>,
    tasks: &mut tokio::task::JoinSet<()>,
) -> mpsc::Sender<Vec<TransactionRecord>> {
    let (batches, mut next) = mpsc::channel::<Vec<TransactionRecord>>(16);
    tasks.spawn(async move {
        loop {
            let records = tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                records = next.recv() => match records {
                    Some(records) => records,
                    None => return,
                },
            };
            let mut wait = Duration::from_millis(200);
            let mut from = 0;
            loop {
                match webhooks
                    .fan_out
                    .fan_out(records.get(from..).unwrap_or_default())
                    .await
                {
                    Ok(_) => break,
                    Err(e) => {
                        // From the record that failed on, as Lambda hands the rest over again.
                        from += e.failed_at;
                        tracing::warn!(error = %e, "webhook fan-out failed; retrying the batch");
                        tokio::select! {
                            _ = stop.wait_for(|stop| *stop) => return,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    });
    batches
}

/// A stream image's value (as the streams API returns it) as the table API's.
fn table_value(
    value: &aws_sdk_dynamodbstreams::types::AttributeValue,
) -> aws_sdk_dynamodb::types::AttributeValue {
    use aws_sdk_dynamodb::types::AttributeValue as Table;
    use aws_sdk_dynamodbstreams::types::AttributeValue as Stream;
    match value {
        Stream::N(n) => Table::N(n.clone()),
        Stream::S(s) => Table::S(s.clone()),
        Stream::Bool(b) => Table::Bool(*b),
        Stream::B(b) => Table::B(b.clone()),
        Stream::Null(b) => Table::Null(*b),
        Stream::M(m) => Table::M(m.iter().map(|(k, v)| (k.clone(), table_value(v))).collect()),
        Stream::L(l) => Table::L(l.iter().map(table_value).collect()),
        Stream::Ss(ss) => Table::Ss(ss.clone()),
        Stream::Ns(ns) => Table::Ns(ns.clone()),
        Stream::Bs(bs) => Table::Bs(bs.clone()),
        // A kind this SDK does not know: the record is then read from the table.
        _ => Table::Null(true),
    }
}

/// Why the table's stream could not be read (the emulator restarting, mostly).
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("describing the table: {}", DisplayErrorContext(.0))]
    Table(#[source] Box<SdkError<DescribeTableError>>),
    #[error("the table has no stream")]
    NoStream,
    #[error("describing the stream: {}", DisplayErrorContext(.0))]
    Stream(#[source] Box<SdkError<DescribeStreamError>>),
    #[error("getting a shard iterator: {}", DisplayErrorContext(.0))]
    Iterator(#[source] Box<SdkError<GetShardIteratorError>>),
}

async fn refresh_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    dynamo: &aws_sdk_dynamodb::Client,
    table: &str,
    iterators: &mut HashMap<String, Option<String>>,
) -> Result<(), StreamError> {
    let arn = dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| StreamError::Table(Box::new(e)))?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or(StreamError::NoStream)?;
    let description = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .map_err(|e| StreamError::Stream(Box::new(e)))?
        .stream_description
        .ok_or(StreamError::NoStream)?;
    let first_time = iterators.is_empty();
    for shard in description.shards.unwrap_or_default() {
        let Some(shard_id) = shard.shard_id else {
            continue;
        };
        if iterators.get(&shard_id).is_some_and(Option::is_some) {
            continue;
        }
        // Shards seen at start: only what happens from now on. Shards that appear later: all.
        let kind = if first_time {
            ShardIteratorType::Latest
        } else {
            ShardIteratorType::TrimHorizon
        };
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard_id)
            .shard_iterator_type(kind)
            .send()
            .await
            .map_err(|e| StreamError::Iterator(Box::new(e)))?
            .shard_iterator;
        iterators.insert(shard_id, iterator);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap_or_else(|e| panic!("{e}")));
        }
        map
    }

    #[test]
    fn only_the_runners_own_pages_may_open_the_socket() {
        let host = ("host", "127.0.0.1:3000");
        assert!(same_origin(&headers(&[
            host,
            ("origin", "http://127.0.0.1:3000")
        ])));
        // Not a browser: no Origin, nothing to forge.
        assert!(same_origin(&headers(&[host])));
        for foreign in [
            "http://evil.example",
            "http://127.0.0.1:3001",
            "http://127.0.0.1:3000.evil.example",
            "null",
            "file://",
        ] {
            assert!(
                !same_origin(&headers(&[host, ("origin", foreign)])),
                "{foreign}"
            );
        }
    }

    #[test]
    fn the_dev_switches_need_the_admin_token() {
        let hub = Hub::new("admin-token-0123456789".into());
        assert_eq!(
            dev_switch_allowed(&hub, &HeaderMap::new()),
            Err(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            dev_switch_allowed(&hub, &headers(&[("authorization", "Bearer nope")])),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            dev_switch_allowed(
                &hub,
                &headers(&[("authorization", "Bearer admin-token-0123456789")])
            ),
            Ok(())
        );
        assert!(!hub.is_admin_token(None));
        assert!(!hub.is_admin_token(Some("")));
    }
}
