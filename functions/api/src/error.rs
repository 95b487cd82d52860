//! Every error the API answers with, mapped once to a status code and a JSON body
//! `{"error": {"code": "...", "message": "..."}}` that never leaks internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tx_shared::auth::AuthError;
use tx_shared::domain::TxId;
use tx_shared::ports::StoreError;
use tx_shared::validation::{CallError, RequestError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    BadRequest(RequestError),
    #[error(transparent)]
    Unprocessable(CallError),
    #[error("{0}")]
    InvalidHeader(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error(transparent)]
    Unauthenticated(AuthError),
    #[error("{0}")]
    Forbidden(String),
    #[error("the body must be JSON, sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("this Idempotency-Key was already used for a different request (transaction {0})")]
    IdempotencyKeyReused(TxId),
    /// Publishing failed; what became of the stored request is read back, never assumed.
    #[error("{}", match withdrawal {
        Withdrawal::Withdrawn => "the request could not be queued and was not stored; retry it".to_owned(),
        Withdrawal::Kept => format!("the request is stored as transaction {id} and will be executed, but could not be queued yet; do not send it again without its Idempotency-Key: follow it at GET /transactions/{id}"),
        Withdrawal::Unknown => format!("the request could not be queued, and whether it stays stored is not known yet: GET /transactions/{id}; if that answers 404 it was withdrawn and may be sent again, otherwise it will be executed"),
    })]
    NotQueued { id: TxId, withdrawal: Withdrawal },
    #[error("the service is temporarily unavailable; retry")]
    Unavailable,
    /// A body of the right JSON kind whose fields are not what the route takes.
    #[error("the body is not what this route takes: {0}")]
    InvalidBody(String),
    #[error("the path's id is not a webhook endpoint id (`we_` and 32 hex digits)")]
    InvalidEndpointId,
    #[error(transparent)]
    InvalidWebhook(tx_shared::webhooks::EndpointError),
    #[error("{0}")]
    Conflict(String),
}

/// What became of a request whose publication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// Deleted: nothing is stored.
    Withdrawn,
    /// It stays (it could not be withdrawn, or had moved on): the sweeper delivers it.
    Kept,
    /// The store could not tell.
    Unknown,
}

impl ApiError {
    /// Store failures: the cursor is the client's fault, everything else is ours (logged, not
    /// shown).
    pub fn store(err: StoreError) -> Self {
        match err {
            StoreError::InvalidCursor(why) => {
                ApiError::InvalidQuery(format!("cursor is not valid: {why}"))
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ApiError::Unavailable
            }
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_)
            | ApiError::InvalidBody(_)
            | ApiError::InvalidEndpointId
            | ApiError::InvalidHeader(_)
            | ApiError::InvalidPath(_)
            | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_)
            | ApiError::IdempotencyKeyReused(_)
            | ApiError::InvalidWebhook(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthenticated(AuthError::Missing) => StatusCode::UNAUTHORIZED,
            ApiError::Unauthenticated(AuthError::Invalid) | ApiError::Forbidden(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotQueued { .. } | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(e) => e.code(),
            ApiError::Unprocessable(e) => e.code(),
            ApiError::InvalidHeader(_) => "invalid_header",
            ApiError::InvalidPath(_) => "invalid_transaction_id",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthenticated(AuthError::Missing) => "unauthorized",
            ApiError::Unauthenticated(AuthError::Invalid) | ApiError::Forbidden(_) => "forbidden",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::IdempotencyKeyReused(_) => "idempotency_key_reused",
            ApiError::NotQueued { .. } => "not_queued",
            ApiError::Unavailable => "service_unavailable",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidEndpointId => "invalid_endpoint_id",
            ApiError::InvalidWebhook(e) => webhook_code(e),
            ApiError::Conflict(_) => "conflict",
        }
    }
}

fn webhook_code(e: &tx_shared::webhooks::EndpointError) -> &'static str {
    use tx_shared::webhooks::{EndpointError, UrlError};
    match e {
        EndpointError::Url(UrlError::AddressNotAllowed) => "url_not_allowed",
        EndpointError::Url(_) => "invalid_url",
        EndpointError::NoEvents | EndpointError::UnknownEvent(_) | EndpointError::TooManyEvents => {
            "invalid_events"
        }
        EndpointError::Description => "invalid_description",
        EndpointError::TooMany => "too_many_endpoints",
        EndpointError::Overlap => "invalid_overlap",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = (self.status(), self.to_string());
        let body = tx_shared::view::ErrorBody::new(self.code(), &message);
        let body = match self {
            ApiError::NotQueued { withdrawal, id } if withdrawal != Withdrawal::Withdrawn => {
                body.about(id)
            }
            _ => body,
        };
        (status, Json(body)).into_response()
    }
}
