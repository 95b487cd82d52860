//! The live status page: static files compiled into the binary (no build step, no CDN) and the
//! little configuration the browser needs.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use tx_shared::config::ConfigError;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");

/// Where operators sign in: Cognito's hosted UI (OAuth 2.0 code flow with PKCE, no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The hosted UI's origin, e.g. `https://ops-123.auth.us-east-1.amazoncognito.com`.
    pub origin: String,
    pub client_id: String,
}

impl SignIn {
    pub fn new(url: &str, client_id: String) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError::Invalid {
            name: "OPERATOR_SIGN_IN_URL",
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| invalid(format!("`{url}`: {e}")))?;
        if parsed.scheme() != "https" || parsed.host_str().is_none() {
            return Err(invalid(format!("`{url}` is not an https:// origin")));
        }
        Ok(SignIn {
            origin: parsed.origin().ascii_serialization(),
            client_id,
        })
    }
}

/// Everything comes from this origin; live updates may come from the WebSocket API's origin,
/// and the sign-in's token exchange goes to the hosted UI.
fn csp(sign_in: Option<&SignIn>) -> String {
    let token_origin = sign_in
        .map(|s| format!(" {}", s.origin))
        .unwrap_or_default();
    format!(
        "default-src 'self'; connect-src 'self' ws: wss:{token_origin}; img-src 'self' data:; frame-ancestors 'none'"
    )
}

pub(crate) fn routes<S: Clone + Send + Sync + 'static>(
    websocket_url: Option<String>,
    sign_in: Option<SignIn>,
) -> Router<S> {
    // The origin was parsed from a URL: it is a valid header value. Should it somehow not
    // be, the page falls back to the strictest policy (no sign-in possible, nothing loosened).
    let csp = HeaderValue::from_str(&csp(sign_in.as_ref()))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let asset = move |content_type: &'static str, body: &'static str| {
        let csp = csp.clone();
        move || {
            let csp = csp.clone();
            async move {
                (
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                        (header::CONTENT_SECURITY_POLICY, csp),
                        (
                            header::X_CONTENT_TYPE_OPTIONS,
                            HeaderValue::from_static("nosniff"),
                        ),
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                    ],
                    body,
                )
            }
        }
    };
    Router::new()
        .route("/", get(asset("text/html; charset=utf-8", INDEX)))
        .route(
            "/ui/app.js",
            get(asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/ui/style.css",
            get(asset("text/css; charset=utf-8", STYLE)),
        )
        .route(
            "/ui/config.json",
            get(move || {
                let websocket_url = websocket_url.clone();
                let sign_in = sign_in
                    .as_ref()
                    .map(|s| json!({ "url": s.origin, "client_id": s.client_id }));
                async move {
                    axum::Json(json!({ "websocket_url": websocket_url, "sign_in": sign_in }))
                        .into_response()
                }
            }),
        )
}
