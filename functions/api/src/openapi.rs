//! The API's OpenAPI 3.1 document, generated from the code: the routes' `#[utoipa::path]`
//! annotations, the types they answer with, and [`ERRORS`], the one table of error codes each
//! operation's error responses are built from. Served at `/openapi.json`; `docs/openapi.json` is
//! a copy a test holds equal to it, and `make test` runs schemathesis against the served one.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, SecurityRequirement};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::Accepted;
use crate::health::{ChainHealth, Health, LaneHealth, LaneHealthState, Overall};
use crate::reads::{ChainTimeline, MinuteView, Stats, Timeline, TransactionPage};
use crate::webhooks::{
    AttemptView, CreatedView, DeliveriesView, EndpointView, EndpointsView, EventView,
    NewEndpointBody, RedeliverBody, Redelivered, RotateBody, RotatedView,
};
use tx_shared::domain::Status;
use tx_shared::ports::NodeHealth;
use tx_shared::view::{ErrorBody, ErrorDetail, HistoryView, TransactionView};
use tx_shared::webhooks::{AttemptOutcome, EventKind};

// The API reads the body field by field (`tx_shared::validation::parse_request`), so that each
// mistake gets its own error; this type describes it, and a test holds the two together.
/// A transaction request: the function to call, its calldata, and optionally the chain.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    example = json!({
        "message_type": "add_weight(address _addr, uint256 _weight)",
        "data": "0x1c41742f000000000000000000000000414141414141414141414141414141414141414100000000000000000000000000000000000000000000000000000000000003e8"
    })
)]
#[allow(dead_code)]
pub struct BroadcastRequest {
    /// A Solidity function signature; parameter names are allowed.
    #[schema(min_length = 1, max_length = 1024)]
    message_type: String,
    /// The function's 4-byte selector followed by its ABI-encoded arguments, which must decode
    /// exactly, canonically, with no trailing bytes.
    #[schema(pattern = "^0x([0-9a-fA-F]{2})*$")]
    data: String,
    /// The chain to send on: its id, or its configured name in any case. Without it: the
    /// deployment's default chain.
    #[serde(default)]
    #[schema(value_type = ChainSelector)]
    chain: Option<serde_json::Value>,
}

/// A chain: its id as a whole number or decimal digits, or its configured name.
pub struct ChainSelector;

impl utoipa::PartialSchema for ChainSelector {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let id = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0));
        let name = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(1024));
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(id)
            .item(name)
            .description(Some(
                "A chain: its id as a whole number or decimal digits, or its configured name.",
            ))
            .into()
    }
}

impl ToSchema for ChainSelector {}

/// One error code: the status it comes with, when, and the operations that answer it.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode {
    pub status: u16,
    pub code: &'static str,
    pub when: &'static str,
    pub operations: &'static [&'static str],
}

const BROADCAST: &[&str] = &["broadcast"];
/// The routes that read a JSON body.
const BODIES: &[&str] = &[
    "broadcast",
    "create_webhook",
    "rotate_webhook_secret",
    "redeliver_webhooks",
];
/// The webhook routes that read a body of their own shape.
const WEBHOOK_BODIES: &[&str] = &[
    "create_webhook",
    "rotate_webhook_secret",
    "redeliver_webhooks",
];
/// The routes that change a client's endpoints.
const ENDPOINT_CHANGES: &[&str] = &["create_webhook", "delete_webhook", "rotate_webhook_secret"];
/// The routes with an endpoint's id in the path.
const ONE_ENDPOINT: &[&str] = &["delete_webhook", "rotate_webhook_secret"];
const LISTINGS: &[&str] = &[
    "list_transactions",
    "transaction_stats",
    "transaction_timeline",
];
const ONE: &[&str] = &[
    "show_transaction",
    "retry_transaction",
    "list_deliveries",
    "redeliver_webhooks",
];
/// Everything with an id in its path that may not exist.
const FOUND: &[&str] = &[
    "show_transaction",
    "retry_transaction",
    "list_deliveries",
    "redeliver_webhooks",
    "delete_webhook",
    "rotate_webhook_secret",
];
/// What a client's API key reaches (API Gateway's usage plans and key check stand in front).
const CLIENT: &[&str] = &[
    "broadcast",
    "list_transactions",
    "show_transaction",
    "transaction_stats",
    "list_deliveries",
    "create_webhook",
    "list_webhooks",
    "delete_webhook",
    "rotate_webhook_secret",
];
/// Every route that needs credentials.
const AUTHENTICATED: &[&str] = &[
    "broadcast",
    "list_transactions",
    "show_transaction",
    "transaction_stats",
    "transaction_timeline",
    "retry_transaction",
    "list_deliveries",
    "create_webhook",
    "list_webhooks",
    "delete_webhook",
    "rotate_webhook_secret",
    "redeliver_webhooks",
];
const ALL: &[&str] = &[
    "broadcast",
    "list_transactions",
    "show_transaction",
    "transaction_stats",
    "transaction_timeline",
    "retry_transaction",
    "list_deliveries",
    "create_webhook",
    "list_webhooks",
    "delete_webhook",
    "rotate_webhook_secret",
    "redeliver_webhooks",
    "health",
    "openapi",
];

const fn error(
    status: u16,
    code: &'static str,
    when: &'static str,
    operations: &'static [&'static str],
) -> ErrorCode {
    ErrorCode {
        status,
        code,
        when,
        operations,
    }
}

/// Every error code the API answers with, and API Gateway's own in front of it. The README's
/// table says the same (a test holds them together).
pub const ERRORS: &[ErrorCode] = &[
    error(400, "invalid_json", "The body is not JSON.", BODIES),
    error(
        400,
        "body_not_object",
        "The body is JSON but not an object.",
        BODIES,
    ),
    error(
        400,
        "missing_field",
        "`message_type` or `data` is missing.",
        BROADCAST,
    ),
    error(
        400,
        "unknown_field",
        "There is any other field; misspellings get a hint.",
        BROADCAST,
    ),
    error(
        400,
        "invalid_field_type",
        "`message_type` or `data` is not a string, or `chain` is neither a whole number nor a string.",
        BROADCAST,
    ),
    error(
        400,
        "body_too_large",
        "The body is over 128 KiB (a broadcast) or 16 KiB (the webhook routes).",
        BODIES,
    ),
    error(
        400,
        "invalid_body",
        "A webhook route's body has an unknown or missing field, or one of the wrong type; the message names it.",
        WEBHOOK_BODIES,
    ),
    error(
        400,
        "invalid_endpoint_id",
        "The id in the path is not a webhook endpoint id.",
        ONE_ENDPOINT,
    ),
    error(
        400,
        "invalid_header",
        "The `Idempotency-Key` is malformed.",
        BROADCAST,
    ),
    error(
        400,
        "invalid_query",
        "A query parameter is unknown, malformed, too long or out of range; the message names it.",
        LISTINGS,
    ),
    error(
        400,
        "invalid_transaction_id",
        "The id in the path is not a transaction id.",
        ONE,
    ),
    error(
        401,
        "unauthorized",
        "No credentials: a client's `x-api-key`, or an operator's bearer token.",
        AUTHENTICATED,
    ),
    error(
        403,
        "forbidden",
        "The credentials are not valid, an operator used a client's route (submitting, webhook endpoints), or a client an operator's (the timeline, re-delivery).",
        AUTHENTICATED,
    ),
    error(
        403,
        "invalid_api_key",
        "(API Gateway) The `x-api-key` is missing or unknown.",
        CLIENT,
    ),
    error(
        404,
        "not_found",
        "No such transaction or endpoint, it belongs to another client, or (re-delivery) it has no such webhook event.",
        FOUND,
    ),
    error(
        405,
        "method_not_allowed",
        "The route exists, but not with this method.",
        &[],
    ),
    error(
        409,
        "retry_refused",
        "The transaction is confirmed or in flight, or another retry just moved it; the message says which.",
        &["retry_transaction"],
    ),
    error(
        409,
        "conflict",
        "Another request changed the client's endpoints at the same moment, three times over; retry.",
        ENDPOINT_CHANGES,
    ),
    error(
        415,
        "unsupported_media_type",
        "The POST has a body that is not `Content-Type: application/json`.",
        BODIES,
    ),
    error(
        422,
        "invalid_message_type",
        "`message_type` is not a function signature, or uses an unknown type.",
        BROADCAST,
    ),
    error(
        422,
        "invalid_data_hex",
        "`data` is not `0x`-prefixed hex with an even number of digits.",
        BROADCAST,
    ),
    error(
        422,
        "data_too_short",
        "`data` is shorter than a 4-byte selector.",
        BROADCAST,
    ),
    error(
        422,
        "selector_mismatch",
        "`data`'s selector is not `message_type`'s; the message names both.",
        BROADCAST,
    ),
    error(
        422,
        "abi_decode_failed",
        "The arguments don't decode exactly and canonically.",
        BROADCAST,
    ),
    error(
        422,
        "message_type_not_allowed",
        "The chain's allowlist does not have this type.",
        BROADCAST,
    ),
    error(
        422,
        "signature_too_long",
        "`message_type` is over 1024 characters.",
        BROADCAST,
    ),
    error(
        422,
        "too_many_parameters",
        "The function takes more than 32 parameters.",
        BROADCAST,
    ),
    error(
        422,
        "too_many_types",
        "The signature names more than 256 types.",
        BROADCAST,
    ),
    error(
        422,
        "type_too_deep",
        "A parameter nests tuples and arrays more than 8 levels deep.",
        BROADCAST,
    ),
    error(
        422,
        "type_too_large",
        "No request could carry the type.",
        BROADCAST,
    ),
    error(
        422,
        "abi_too_complex",
        "The arguments would decode into more than 3,072 values.",
        BROADCAST,
    ),
    error(
        422,
        "idempotency_key_reused",
        "The key was already used with a different request.",
        BROADCAST,
    ),
    error(
        422,
        "unknown_chain",
        "`chain` names no chain served; the message lists those served.",
        BROADCAST,
    ),
    error(
        422,
        "invalid_url",
        "`url` is not an absolute `https` URL (`make dev`: or `http` to this machine), or has credentials or a fragment.",
        &["create_webhook"],
    ),
    error(
        422,
        "url_not_allowed",
        "`url` points to a private, loopback, link-local or reserved address.",
        &["create_webhook"],
    ),
    error(
        422,
        "invalid_events",
        "`events` is empty, too long, or names an unknown event; the message lists the known ones.",
        &["create_webhook"],
    ),
    error(
        422,
        "invalid_description",
        "`description` is over 200 characters or has control characters.",
        &["create_webhook"],
    ),
    error(
        422,
        "too_many_endpoints",
        "The client has 10 endpoints already.",
        &["create_webhook"],
    ),
    error(
        422,
        "invalid_overlap",
        "`overlap_seconds` is over 604800 (7 days).",
        &["rotate_webhook_secret"],
    ),
    error(
        429,
        "rate_limited",
        "(API Gateway) The usage plan's rate is used up; retry later.",
        CLIENT,
    ),
    error(
        429,
        "quota_exceeded",
        "(API Gateway) The usage plan's quota is used up; retry later.",
        CLIENT,
    ),
    error(
        503,
        "not_queued",
        "Publishing failed. If the error carries a `transaction_id`, the request is stored and will be executed: follow it instead of sending again.",
        BROADCAST,
    ),
    error(
        503,
        "service_unavailable",
        "A dependency is down; retry.",
        ALL,
    ),
];

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tx-broadcaster",
        description = "Signs and broadcasts transactions to EVM chains. Clients submit a Solidity signature and its calldata; the service supplies target, chain, nonce, gas and fees, and follows each transaction until it is confirmed. Every error is `{\"error\": {\"code\", \"message\"}}` with a stable code.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    paths(
        crate::broadcast,
        crate::reads::list,
        crate::reads::show,
        crate::reads::stats,
        crate::reads::timeline,
        crate::webhooks::create,
        crate::webhooks::list,
        crate::webhooks::delete,
        crate::webhooks::rotate,
        crate::webhooks::deliveries,
        crate::webhooks::redeliver,
        crate::health::health,
        serve,
    ),
    components(schemas(
        BroadcastRequest, ChainSelector, Accepted, Status, TransactionView, HistoryView,
        TransactionPage, Stats, Timeline, ChainTimeline, MinuteView, Health, Overall, ChainHealth, LaneHealth, LaneHealthState,
        NodeHealth, ErrorBody<'_>, ErrorDetail<'_>,
        NewEndpointBody, RotateBody, RedeliverBody, EndpointView, CreatedView, EndpointsView, RotatedView,
        DeliveriesView, EventView, AttemptView, Redelivered, EventKind, AttemptOutcome,
    )),
    tags(
        (name = "transactions", description = "A client's own transactions (an operator's: everyone's)."),
        (name = "operators", description = "On AWS these live on the operators' API (`operator_api_url`), behind a Cognito JWT; locally, beside the rest with `Authorization: Bearer $ADMIN_TOKEN`."),
        (name = "webhooks", description = "A client's endpoints, told of its transactions' events: each delivery is signed (`Tx-Broadcaster-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`, Stripe's scheme), at least once, retried with backoff for about a day and a half."),
        (name = "health", description = "Public."),
    ),
    modifiers(&Wiring),
)]
struct ApiDoc;

/// What the annotations can't say: the admin route (another function's), the credentials,
/// the status page, and each operation's error responses from [`ERRORS`].
struct Wiring;

impl Modify for Wiring {
    fn modify(&self, doc: &mut Document) {
        doc.merge(retry::AdminApi::openapi());
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "A client's API key (API Gateway's usage plans on AWS; `make dev` prints one).",
            ))),
        );
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An operator: a Cognito JWT on AWS, `$ADMIN_TOKEN` locally.",
                    ))
                    .build(),
            ),
        );
        doc.paths.add_path_operation(
            "/",
            vec![HttpMethod::Get],
            OperationBuilder::new()
                .operation_id(Some("status_page"))
                .tag("operators")
                .summary(Some("The status page (sign in as an operator)."))
                .security(SecurityRequirement::default())
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("The page.")
                        .content("text/html", ContentBuilder::new().build()),
                )
                .build(),
        );
        for item in doc.paths.paths.values_mut() {
            for operation in operations(item) {
                let id = operation.operation_id.clone().unwrap_or_default();
                if operation.security.is_none() && AUTHENTICATED.contains(&id.as_str()) {
                    // A client's key or an operator's token: both read.
                    operation.security = Some(vec![
                        SecurityRequirement::new("client", Vec::<String>::new()),
                        SecurityRequirement::new("operator", Vec::<String>::new()),
                    ]);
                }
                add_errors(operation, &id);
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// One response per status the operation can answer with an error, its `code` restricted to
/// that status's codes (schemathesis checks every answer against it).
fn add_errors(operation: &mut Operation, id: &str) {
    let mut statuses: Vec<u16> = ERRORS
        .iter()
        .filter(|e| e.operations.contains(&id))
        .map(|e| e.status)
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let codes: Vec<&ErrorCode> = ERRORS
            .iter()
            .filter(|e| e.status == status && e.operations.contains(&id))
            .collect();
        let description = codes
            .iter()
            .map(|e| format!("`{}`: {}", e.code, e.when))
            .collect::<Vec<_>>()
            .join("\n\n");
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(codes.iter().map(|e| e.code)));
        let restricted =
            ObjectBuilder::new().property("error", ObjectBuilder::new().property("code", code));
        let schema = AllOfBuilder::new()
            .item(Ref::from_schema_name("Error"))
            .item(restricted);
        operation.responses.responses.insert(
            status.to_string(),
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build()
                .into(),
        );
    }
}

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// The document as `/openapi.json` serves it and `docs/openapi.json` keeps it.
pub fn json() -> Result<String, serde_json::Error> {
    document().to_pretty_json().map(|mut json| {
        json.push('\n');
        json
    })
}

/// Generated once per container.
static SERVED: LazyLock<Option<String>> = LazyLock::new(|| {
    json()
        .inspect_err(|e| tracing::error!(error = %e, "the OpenAPI document does not serialize"))
        .ok()
});

#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "health",
    security(()),
    responses((status = 200, description = "This document.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn serve() -> Response {
    let served: &'static Option<String> = &SERVED;
    match served.as_deref() {
        Some(json) => (
            StatusCode::OK,
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            json,
        )
            .into_response(),
        None => crate::ApiError::Unavailable.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use utoipa::IntoParams;

    const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    const README: &str = include_str!("../../../README.md");

    fn generated() -> serde_json::Value {
        let json = json().unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `UPDATE_OPENAPI=1 cargo test -p api openapi` rewrites the committed copy.
    #[test]
    fn the_committed_document_is_the_generated_one() {
        let json = json().unwrap_or_else(|e| panic!("{e}"));
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(COMMITTED, &json).unwrap_or_else(|e| panic!("{COMMITTED}: {e}"));
        }
        let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
        assert!(
            committed == json,
            "docs/openapi.json differs from the document the code generates: \
             run `UPDATE_OPENAPI=1 cargo test -p api openapi` and commit it"
        );
        assert_eq!(generated()["openapi"], "3.1.0");
    }

    /// `| 400 | `invalid_json` | …` and `| 429 | `rate_limited`, `quota_exceeded` | …`.
    fn readme_errors() -> BTreeSet<(u16, String)> {
        README
            .lines()
            .filter_map(|line| {
                let mut cells = line.split('|').map(str::trim).skip(1);
                let status: u16 = cells.next()?.parse().ok()?;
                let codes = cells.next()?;
                Some(
                    codes
                        .split(',')
                        .filter_map(|c| c.trim().strip_prefix('`')?.strip_suffix('`'))
                        .map(|c| (status, c.to_owned()))
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect()
    }

    #[test]
    fn every_error_code_of_the_readme_is_in_the_document_and_back() {
        let listed: BTreeSet<(u16, String)> = ERRORS
            .iter()
            .map(|e| (e.status, e.code.to_owned()))
            .collect();
        let readme = readme_errors();
        assert!(readme.len() > 30, "the README's table was not found");
        assert_eq!(readme, listed);
        // Each is in the document, under its status, for every operation it names.
        let doc = generated();
        for error in ERRORS {
            for id in error.operations {
                let operation = doc["paths"]
                    .as_object()
                    .into_iter()
                    .flat_map(|paths| paths.values())
                    .flat_map(|item| item.as_object().into_iter().flat_map(|m| m.values()))
                    .find(|op| op["operationId"] == *id)
                    .unwrap_or_else(|| panic!("no operation {id}"));
                let response = &operation["responses"][error.status.to_string()];
                let codes = &response["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                    ["error"]["properties"]["code"]["enum"];
                assert!(
                    codes
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c == error.code)),
                    "{id}: {} `{}` missing",
                    error.status,
                    error.code
                );
            }
        }
    }

    #[test]
    fn every_route_of_the_readme_is_in_the_document() {
        let doc = generated();
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        let routes = [
            ("post", "/transaction/broadcast"),
            ("get", "/transactions"),
            ("get", "/transactions/{id}"),
            ("get", "/transactions/stats"),
            ("get", "/transactions/timeline"),
            ("post", "/admin/transactions/{id}/retry"),
            ("post", "/webhooks"),
            ("get", "/webhooks"),
            ("delete", "/webhooks/{id}"),
            ("post", "/webhooks/{id}/rotate"),
            ("get", "/transactions/{id}/deliveries"),
            ("post", "/admin/transactions/{id}/redeliver"),
            ("get", "/health"),
            ("get", "/"),
            ("get", "/openapi.json"),
        ];
        for (method, path) in routes {
            assert!(paths[path][method].is_object(), "{method} {path}");
            let route = format!("`{} {path}", method.to_uppercase());
            assert!(
                README.contains(&route),
                "{route} is not in the README's API table"
            );
        }
        let listed: BTreeSet<&str> = routes.iter().map(|(_, path)| *path).collect();
        assert_eq!(
            paths.len(),
            listed.len(),
            "a route the README does not list"
        );
        let broadcast = &paths["/transaction/broadcast"]["post"];
        let key = broadcast["parameters"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "Idempotency-Key"))
            .unwrap_or_else(|| panic!("no Idempotency-Key"));
        assert_eq!(key["in"], "header");
        assert_eq!(key["schema"]["maxLength"], crate::MAX_IDEMPOTENCY_KEY_LEN);
        assert_eq!(
            doc["components"]["securitySchemes"]["client"]["name"],
            "x-api-key"
        );
    }

    #[test]
    fn the_documented_request_is_the_one_the_api_reads() {
        let doc = generated();
        let schema = &doc["components"]["schemas"]["BroadcastRequest"];
        assert_eq!(schema["additionalProperties"], false);
        let fields: BTreeSet<&str> = schema["properties"]
            .as_object()
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(fields, BTreeSet::from(["message_type", "data", "chain"]));
        // The example is a request the API accepts, and the type reads it too.
        let example = schema["example"].to_string();
        let request = tx_shared::validation::parse_request(example.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        tx_shared::validation::validate_call(
            &request,
            &tx_shared::validation::MessageTypePolicy::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str::<BroadcastRequest>(&example).unwrap_or_else(|e| panic!("{e}"));
        // A field the API refuses, the type refuses.
        let misnamed = r#"{"messageType": "f()", "data": "0x"}"#;
        assert!(tx_shared::validation::parse_request(misnamed.as_bytes()).is_err());
        assert!(serde_json::from_str::<BroadcastRequest>(misnamed).is_err());
    }

    #[test]
    fn the_listing_parameters_are_the_ones_the_api_reads() {
        let documented: BTreeSet<String> = crate::reads::ListParameters::into_params(|| None)
            .into_iter()
            .map(|p| p.name)
            .collect();
        let read: BTreeSet<String> = crate::reads::LIST_PARAMETERS
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        assert_eq!(documented, read);
    }
}
