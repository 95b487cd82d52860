//! The live status page: static files compiled into the binary (no build step, no CDN) and the
//! little configuration the browser needs.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/style.css");
/// Everything comes from this origin; live updates may come from the WebSocket API's origin.
const CSP: &str =
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'";

pub(crate) fn routes<S: Clone + Send + Sync + 'static>(websocket_url: Option<String>) -> Router<S> {
    let asset = |content_type: &'static str, body: &'static str| {
        move || async move {
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_SECURITY_POLICY, CSP),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
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
                async move { axum::Json(json!({ "websocket_url": websocket_url })).into_response() }
            }),
        )
}
