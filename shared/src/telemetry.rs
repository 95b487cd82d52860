//! Structured JSON logs. Handlers open a span carrying `transaction_id`, so every line logged
//! while a transaction is processed names it.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once; `RUST_LOG` filters (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, local runner) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .try_init();
}
