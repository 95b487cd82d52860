//! `make bench`: the system's speed and cost, each measured beside its reference in the same
//! run, and written to `docs/benchmarks.md` (how: `docs/benchmarking.md`). [`binaries`]: cold
//! start and zip size; [`handlers`] and `benches/`: the pure paths' time and allocations;
//! [`pipeline`]: AWS requests per transaction, end to end and the challenge's node; [`report`]
//! prices the requests, prints the table and writes the page.

pub mod binaries;
pub mod handlers;
pub mod pipeline;
pub mod report;

/// The workspace's root.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hello-world reference binary.
pub const HELLO: &str = "hello-lambda";

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("local stack: {0}")]
    Stack(#[from] devstack::DevError),
    #[error("rpc proxy: {0}")]
    Proxy(#[from] rpc_proxy::ProxyError),
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("store: {0}")]
    Store(#[from] tx_shared::ports::StoreError),
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
