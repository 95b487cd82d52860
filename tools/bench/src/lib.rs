//! `make bench`: the system's speed and cost, each measured beside its reference in the same
//! run, and written to `docs/benchmarks.md`.
//!
//! - [`coldstart`]: every function's release binary against a local Lambda Runtime API stub,
//!   beside a hello-world `lambda_runtime` binary built with the same profile.
//! - [`sizes`]: the deployment zips `cargo lambda build` makes.
//! - `benches/`: criterion benchmarks of the pure paths, and their allocations.
//! - [`pipeline`]: AWS requests per transaction (counted by interceptors on the clients the
//!   functions are given, [`runner`]), 1,000 transactions end to end, and 1,000 through the
//!   challenge's node; [`ceiling`] measures what the emulator itself allows, in the same run.
//! - [`cost`] turns request counts into dollars; [`report`] prints the table and writes the page.

pub mod ceiling;
pub mod coldstart;
pub mod cost;
pub mod fixtures;
pub mod handlers;
pub mod machine;
pub mod metering;
pub mod pipeline;
pub mod report;
pub mod runner;
pub mod sizes;
pub mod stats;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("local stack: {0}")]
    Stack(#[from] devstack::DevError),
    #[error("rpc proxy: {0}")]
    Proxy(#[from] rpc_proxy::ProxyError),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("AWS: {0}")]
    Aws(String),
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Failed(String),
}

impl BenchError {
    pub fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> BenchError {
        let path = path.to_string();
        move |source| BenchError::Io { path, source }
    }
}
