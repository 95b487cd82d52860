//! A client's webhook endpoints (register, list, rotate a secret, remove), a transaction's
//! deliveries, and an operator's re-delivery.

use axum::extract::rejection::PathRejection;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use tx_shared::auth::ClientId;
use tx_shared::ports::{WebhookQueue, WebhookStore};
use tx_shared::webhooks::{
    AttemptOutcome, DEFAULT_ROTATION_OVERLAP, DeliveryMessage, Endpoint, EndpointId, EventKind,
    NewEndpoint, Registry,
};

use super::*;

/// The largest body a webhook route reads.
const MAX_WEBHOOK_BODY: usize = 16 * 1024;
/// Tries of a change that lost to another change of the same client's endpoints.
const CHANGE_TRIES: usize = 3;

/// What `POST /webhooks` takes.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://example.com/hooks/tx", "events": ["confirmed", "reverted", "needs_review"]}))]
pub(crate) struct NewEndpointBody {
    /// Where deliveries are posted: `https`, a public host (`make dev` also takes
    /// `http://127.0.0.1`), no credentials or fragment.
    #[schema(min_length = 1, max_length = 2048)]
    url: String,
    /// The events this endpoint wants.
    #[schema(value_type = Vec<EventKind>, min_items = 1, max_items = 16)]
    events: Vec<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    description: Option<String>,
}

/// What `POST /webhooks/{id}/rotate` takes (the body may be left out).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// How long the current secret keeps signing beside the new one: 0 to 604800 seconds
    /// (default 86400).
    #[schema(minimum = 0, maximum = 604800)]
    overlap_seconds: Option<u64>,
}

/// What `POST /admin/transactions/{id}/redeliver` takes (the body may be left out: every
/// event again).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeliverBody {
    /// Only this event.
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    event_id: Option<String>,
}

/// An endpoint, as its client sees it (never its secret).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoint)]
pub(crate) struct EndpointView {
    #[schema(pattern = "^we_[0-9a-f]{32}$")]
    id: String,
    url: String,
    events: Vec<EventKind>,
    description: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// While a rotated-out secret still signs beside the current one: until when.
    #[schema(format = DateTime)]
    previous_secret_expires_at: Option<String>,
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

fn rfc3339_ms(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl EndpointView {
    fn of(endpoint: &Endpoint, now: i64) -> Self {
        EndpointView {
            id: endpoint.id.to_string(),
            url: endpoint.url.clone(),
            events: endpoint.events.clone(),
            description: endpoint.description.clone(),
            created_at: rfc3339(endpoint.created_at),
            previous_secret_expires_at: endpoint.overlap_ends_at(now).map(rfc3339),
        }
    }
}

/// `POST /webhooks`'s answer: the endpoint and its secret, shown this once.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpointCreated)]
pub(crate) struct CreatedView {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// Signs every delivery (`Tx-Broadcaster-Signature`). Shown only now: keep it.
    #[schema(pattern = "^whsec_[A-Za-z0-9_-]{43}$")]
    secret: String,
}

// The two answers that carry a secret show it in no `Debug` (a log line, a panic).
impl std::fmt::Debug for CreatedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedView")
            .field("endpoint", &self.endpoint)
            .field("secret", &"…")
            .finish()
    }
}

impl std::fmt::Debug for RotatedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RotatedView")
            .field("id", &self.id)
            .field("secret", &"…")
            .finish()
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoints)]
pub(crate) struct EndpointsView {
    endpoints: Vec<EndpointView>,
}

/// `POST /webhooks/{id}/rotate`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = RotatedSecret)]
pub(crate) struct RotatedView {
    #[schema(pattern = "^we_[0-9a-f]{32}$")]
    id: String,
    /// Signs every delivery from now on. Shown only now: keep it.
    #[schema(pattern = "^whsec_[A-Za-z0-9_-]{43}$")]
    secret: String,
    /// Until when the previous secret signs too (null: it stopped now).
    #[schema(format = DateTime)]
    previous_secret_expires_at: Option<String>,
}

/// A transaction's webhook deliveries.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Deliveries)]
pub(crate) struct DeliveriesView {
    /// Oldest first.
    events: Vec<EventView>,
    /// Every attempt at every endpoint, oldest first.
    attempts: Vec<AttemptView>,
    /// Events delivered but not kept (beyond 50 per transaction): they can't be re-delivered.
    unlogged_events: u64,
    /// Attempts made but not kept (beyond 200 per transaction).
    unlogged_attempts: u64,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEvent)]
pub(crate) struct EventView {
    #[schema(pattern = "^evt_[0-9a-f]{32}$")]
    id: String,
    #[serde(rename = "type")]
    kind: EventKind,
    #[schema(format = DateTime)]
    created_at: String,
    /// The endpoints it was queued for.
    endpoint_ids: Vec<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryAttempt)]
pub(crate) struct AttemptView {
    event_id: String,
    endpoint_id: String,
    /// 1 for a message's first try (an operator's re-delivery starts again at 1).
    #[schema(minimum = 1)]
    attempt: u32,
    #[schema(format = DateTime)]
    at: String,
    outcome: AttemptOutcome,
    /// The endpoint's HTTP status, if it answered.
    status_code: Option<u16>,
    latency_ms: u64,
    /// Why it failed, in a few words.
    error: Option<String>,
    /// Sent again by an operator (its attempts count from 1 again).
    redelivery: bool,
}

/// `POST /admin/transactions/{id}/redeliver`'s answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Redelivered {
    /// Events queued again.
    events: usize,
    /// Messages queued: an event per endpoint that still exists.
    deliveries: usize,
}

/// The calling client; an operator has no endpoints of its own.
fn client_of(caller: &Caller) -> Result<&ClientId, ApiError> {
    caller.scope().ok_or_else(|| {
        ApiError::Forbidden(
            "webhook endpoints belong to a client: use its API key, not an operator's credentials"
                .into(),
        )
    })
}

fn endpoint_id(id: Result<Path<String>, PathRejection>) -> Result<EndpointId, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::InvalidEndpointId)?;
    id.parse().map_err(|_| ApiError::InvalidEndpointId)
}

/// A JSON body of at most [`MAX_WEBHOOK_BODY`] bytes; an empty one, where `optional`, is
/// `T::default()`.
async fn json_body<T>(headers: &HeaderMap, body: Body, optional: bool) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Default,
{
    let bytes = read_body(body, MAX_WEBHOOK_BODY).await?;
    if optional && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(RequestError::InvalidJson(e.to_string())))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(RequestError::NotAnObject(kind_of(
            &value,
        ))));
    }
    serde_json::from_value(value).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

fn kind_of(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Reads the client's endpoints, applies `change`, and stores them over what was read; a
/// change that lost to another is decided again on what that left.
async fn change_endpoints<S, T>(
    store: &S,
    client: &ClientId,
    mut change: impl FnMut(&mut Registry) -> Result<T, ApiError>,
) -> Result<T, ApiError>
where
    S: WebhookStore,
{
    for _ in 0..CHANGE_TRIES {
        let mut registry = store.endpoints(client).await.map_err(ApiError::store)?;
        let answer = change(&mut registry)?;
        if store
            .save_endpoints(client, &registry)
            .await
            .map_err(ApiError::store)?
        {
            return Ok(answer);
        }
    }
    Err(ApiError::Conflict(
        "the endpoints changed while this request changed them; retry".into(),
    ))
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[utoipa::path(
    post,
    path = "/webhooks",
    operation_id = "create_webhook",
    tag = "webhooks",
    security(("client" = [])),
    request_body(content = NewEndpointBody, content_type = "application/json"),
    responses((status = 201, description = "Registered. The secret is in this answer only.", body = CreatedView)),
)]
pub(crate) async fn create<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    S: WebhookStore,
{
    let client = client_of(&caller)?;
    let body: NewEndpointBody = json_body(&headers, body, false).await?;
    let now = now();
    let endpoint = Endpoint::register(
        &NewEndpoint {
            url: &body.url,
            events: &body.events,
            description: body.description.as_deref(),
        },
        app.webhook_policy,
        now,
    )
    .map_err(ApiError::InvalidWebhook)?;
    change_endpoints(&app.store, client, |registry| {
        registry
            .add(endpoint.clone())
            .map_err(ApiError::InvalidWebhook)
    })
    .await?;
    tracing::info!(endpoint_id = %endpoint.id, client = %client, "webhook endpoint registered");
    let created = CreatedView {
        endpoint: EndpointView::of(&endpoint, now),
        secret: endpoint
            .secrets_in_force(now)
            .first()
            .map(|s| (*s).to_owned())
            .unwrap_or_default(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    get,
    path = "/webhooks",
    operation_id = "list_webhooks",
    tag = "webhooks",
    security(("client" = [])),
    responses((status = 200, description = "The client's endpoints (never their secrets).", body = EndpointsView)),
)]
pub(crate) async fn list<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<EndpointsView>, ApiError>
where
    S: WebhookStore,
{
    let client = client_of(&caller)?;
    let registry = app.store.endpoints(client).await.map_err(ApiError::store)?;
    let now = now();
    Ok(Json(EndpointsView {
        endpoints: registry
            .endpoints
            .iter()
            .map(|e| EndpointView::of(e, now))
            .collect(),
    }))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    operation_id = "delete_webhook",
    tag = "webhooks",
    security(("client" = [])),
    params(("id" = String, Path, pattern = "^we_[0-9a-f]{32}$", description = "The endpoint's id.")),
    responses((status = 204, description = "Removed: nothing more is sent to it, queued deliveries included.")),
)]
pub(crate) async fn delete<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError>
where
    S: WebhookStore,
{
    let client = client_of(&caller)?;
    let id = endpoint_id(id)?;
    change_endpoints(&app.store, client, |registry| {
        if registry.remove(&id) {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!(
                "webhook endpoint {id} does not exist"
            )))
        }
    })
    .await?;
    tracing::info!(endpoint_id = %id, client = %client, "webhook endpoint removed");
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate",
    operation_id = "rotate_webhook_secret",
    tag = "webhooks",
    security(("client" = [])),
    params(("id" = String, Path, pattern = "^we_[0-9a-f]{32}$", description = "The endpoint's id.")),
    request_body(content = Option<RotateBody>, content_type = "application/json"),
    responses((status = 200, description = "A new secret, shown only now; the previous one signs beside it until `previous_secret_expires_at`.", body = RotatedView)),
)]
pub(crate) async fn rotate<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<RotatedView>, ApiError>
where
    S: WebhookStore,
{
    let client = client_of(&caller)?;
    let id = endpoint_id(id)?;
    let body: RotateBody = json_body(&headers, body, true).await?;
    let overlap = body
        .overlap_seconds
        .map_or(DEFAULT_ROTATION_OVERLAP, std::time::Duration::from_secs);
    let now = now();
    let (secret, ends) = change_endpoints(&app.store, client, |registry| {
        let endpoint = registry
            .get_mut(&id)
            .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id} does not exist")))?;
        let secret = endpoint
            .rotate(now, overlap)
            .map_err(ApiError::InvalidWebhook)?;
        Ok((secret, endpoint.overlap_ends_at(now)))
    })
    .await?;
    tracing::info!(endpoint_id = %id, client = %client, "webhook secret rotated");
    Ok(Json(RotatedView {
        id: id.to_string(),
        secret: secret.expose().to_owned(),
        previous_secret_expires_at: ends.map(rfc3339),
    }))
}

#[utoipa::path(
    get,
    path = "/transactions/{id}/deliveries",
    operation_id = "list_deliveries",
    tag = "webhooks",
    params(("id" = String, Path, format = "uuid", max_length = 64, description = "The transaction's id.")),
    responses((status = 200, description = "Its webhook events and every attempt to deliver them.", body = DeliveriesView)),
)]
pub(crate) async fn deliveries<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<DeliveriesView>, ApiError>
where
    S: Reading + WebhookStore,
{
    let id = reads::transaction_id(id)?;
    reads::visible(&app.store, &caller, id).await?;
    let log = app.store.deliveries(id).await.map_err(ApiError::store)?;
    Ok(Json(DeliveriesView {
        events: log
            .events
            .iter()
            .map(|e| EventView {
                id: e.id.clone(),
                kind: e.kind,
                created_at: rfc3339_ms(e.at_ms),
                endpoint_ids: e.endpoints.iter().map(ToString::to_string).collect(),
            })
            .collect(),
        attempts: log
            .attempts
            .iter()
            .map(|a| AttemptView {
                event_id: a.event_id.clone(),
                endpoint_id: a.endpoint_id.to_string(),
                attempt: a.attempt,
                at: rfc3339_ms(a.at_ms),
                outcome: a.outcome,
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
                redelivery: a.redelivery,
            })
            .collect(),
        unlogged_events: log.unlogged_events,
        unlogged_attempts: log.unlogged_attempts,
    }))
}

#[utoipa::path(
    post,
    path = "/admin/transactions/{id}/redeliver",
    operation_id = "redeliver_webhooks",
    tag = "operators",
    security(("operator" = [])),
    params(("id" = String, Path, format = "uuid", max_length = 64, description = "The transaction's id.")),
    request_body(content = Option<RedeliverBody>, content_type = "application/json"),
    responses((status = 202, description = "Queued again, to every endpoint each event went to that still exists (signed with its secrets in force when sent).", body = Redelivered)),
)]
pub(crate) async fn redeliver<S, P, K>(
    State(app): State<Arc<App<S, P, K>>>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError>
where
    S: Reading + WebhookStore,
{
    if caller.scope().is_some() {
        return Err(ApiError::Forbidden(
            "re-delivering webhooks is for operators".into(),
        ));
    }
    let id = reads::transaction_id(id)?;
    let body: RedeliverBody = json_body(&headers, body, true).await?;
    if let Some(event) = &body.event_id {
        let well_formed = event.len() == 36
            && event
                .strip_prefix("evt_")
                .is_some_and(|hex| hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        if !well_formed {
            return Err(ApiError::InvalidBody(
                "`event_id` is not an event id (`evt_` and 32 hex digits)".into(),
            ));
        }
    }
    let Some(queue) = &app.webhook_queue else {
        tracing::error!("re-delivery asked, but no webhook queue is configured");
        return Err(ApiError::Unavailable);
    };
    let tx = reads::visible(&app.store, &caller, id).await?;
    let Some(client) = tx.client.as_ref() else {
        return Err(ApiError::NotFound(format!(
            "transaction {id} has no client, so no webhooks"
        )));
    };
    let log = app.store.deliveries(id).await.map_err(ApiError::store)?;
    let events: Vec<_> = log
        .events
        .iter()
        .filter(|e| body.event_id.as_ref().is_none_or(|wanted| &e.id == wanted))
        .collect();
    if events.is_empty() {
        return Err(ApiError::NotFound(match &body.event_id {
            Some(event) => format!("transaction {id} has no webhook event {event}"),
            None => format!("transaction {id} has no webhook events"),
        }));
    }
    let registry = app.store.endpoints(client).await.map_err(ApiError::store)?;
    let messages: Vec<DeliveryMessage> = events
        .iter()
        .flat_map(|event| {
            event
                .endpoints
                .iter()
                .filter(|endpoint| registry.get(endpoint).is_some())
                .map(|endpoint| DeliveryMessage {
                    event_id: event.id.clone(),
                    kind: event.kind,
                    transaction_id: id,
                    client: client.to_string(),
                    endpoint_id: endpoint.clone(),
                    body: event.body.clone(),
                    redelivery: true,
                })
        })
        .collect();
    let refused = if messages.is_empty() {
        Vec::new()
    } else {
        queue.queue_deliveries(&messages).await.map_err(|e| {
            tracing::error!(error = %e, "could not queue the re-delivery");
            ApiError::Unavailable
        })?
    };
    for (i, why) in &refused {
        if let Some(message) = messages.get(*i) {
            tracing::error!(event_id = %message.event_id, endpoint_id = %message.endpoint_id, reason = %why, "the queue refuses this re-delivery as it is");
        }
    }
    tracing::info!(
        transaction_id = %id,
        operator = ?caller,
        events = events.len(),
        deliveries = messages.len(),
        "webhooks re-delivered"
    );
    let answer = Redelivered {
        events: events.len(),
        deliveries: messages.len() - refused.len(),
    };
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}
