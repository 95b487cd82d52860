//! Cold start: from process start to the first `GET /2018-06-01/runtime/invocation/next` on a
//! local stand-in for the Lambda Runtime API.
//!
//! Each function's release binary starts with the environment its `Config` needs, pointing at
//! two sentinel listeners (the AWS endpoint and the JSON-RPC node) that count any connection
//! made to them: a function that reached the network during init would show there. The stub
//! never answers `next`, so the process is measured up to the moment it asks for work, then
//! killed.
//!
//! Each binary is also started once more per run without its configuration (no
//! `TABLE_NAME`, no `AWS_LAMBDA_FUNCTION_NAME`) and timed until it exits at its first
//! configuration check: its "bare start", what loading that binary and starting its runtime
//! cost before any init work. The difference between the two is the init work itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::BenchError;

/// One binary to measure.
#[derive(Debug, Clone)]
pub struct Binary {
    pub name: String,
    pub path: PathBuf,
}

/// Its samples.
#[derive(Debug, Clone)]
pub struct ColdStarts {
    pub name: String,
    pub samples: Vec<Duration>,
    /// The same binary without its configuration, until it exits at the first check.
    pub bare: Vec<Duration>,
}

/// The whole measurement.
#[derive(Debug, Clone, Default)]
pub struct ColdStartReport {
    pub binaries: Vec<ColdStarts>,
    /// Connections the sentinels saw while the binaries started: network calls during init.
    pub init_connections: u64,
    /// Runtime API calls other than `next` (e.g. `init/error`), by path.
    pub other_calls: Vec<String>,
    pub runs: usize,
}

/// What the stub hears.
enum Heard {
    Next(Instant),
    Other(String),
}

async fn next(State(heard): State<mpsc::UnboundedSender<Heard>>) -> &'static str {
    let _ = heard.send(Heard::Next(Instant::now()));
    // Hold the request: the process stays where Lambda would freeze it.
    std::future::pending::<()>().await;
    ""
}

async fn other(State(heard): State<mpsc::UnboundedSender<Heard>>, uri: Uri) -> &'static str {
    let _ = heard.send(Heard::Other(uri.path().to_owned()));
    ""
}

/// A listener that only counts connections.
async fn sentinel(
    count: Arc<AtomicU64>,
) -> Result<(String, tokio::task::JoinHandle<()>), BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BenchError::io("sentinel listener"))?;
    let addr = listener
        .local_addr()
        .map_err(BenchError::io("sentinel listener"))?;
    let task = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::Relaxed);
            drop(socket);
        }
    });
    Ok((format!("http://{addr}"), task))
}

/// The environment every function reads (see each `Config::from_env`), with dummy values.
fn function_env(runtime_api: &str, aws_endpoint: &str, rpc_url: &str) -> Vec<(String, String)> {
    let account = "000000000000";
    let queue = |name: &str| format!("{aws_endpoint}/{account}/bench-{name}");
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/01/01/[$LATEST]bench".into(),
        ),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL", aws_endpoint.to_owned()),
        ("TABLE_NAME", "bench-transactions".into()),
        (
            "TOPIC_ARN",
            format!("arn:aws:sns:us-east-1:{account}:bench-requests"),
        ),
        ("KMS_KEY_ID", "alias/bench-signer".into()),
        ("CHAIN_ID", "31337".into()),
        ("SIGN_QUEUE_URL", queue("sign")),
        ("SIGN_PRIORITY_QUEUE_URL", queue("sign-priority")),
        ("BROADCAST_QUEUE_URL", queue("broadcast")),
        ("BROADCAST_PRIORITY_QUEUE_URL", queue("broadcast-priority")),
        ("RPC_URL", rpc_url.to_owned()),
        ("TARGET_CONTRACT", format!("0x{}", "7a".repeat(20))),
        ("WEBSOCKET_ENDPOINT", aws_endpoint.to_owned()),
        // Required by the api and the signer, as in every deployment.
        ("ALLOWED_MESSAGE_TYPES", "*".into()),
        (
            "COGNITO_ISSUER",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_bench".into(),
        ),
        ("COGNITO_CLIENT_ID", "bench-status-page".into()),
        ("RUST_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// How long a start may take before the measurement gives up on it.
const START_LIMIT: Duration = Duration::from_secs(20);

/// Forgets what the stub heard before, then starts `binary` with exactly `env`, silent, and
/// returns when it started.
fn spawn(
    binary: &Binary,
    env: &[(String, String)],
    heard: &mut mpsc::UnboundedReceiver<Heard>,
) -> Result<(Instant, tokio::process::Child), BenchError> {
    while heard.try_recv().is_ok() {}
    let started = Instant::now();
    let child = tokio::process::Command::new(&binary.path)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::io(binary.path.display()))?;
    Ok((started, child))
}

/// Starts `binary` once and times it to its first `next`.
async fn once(
    binary: &Binary,
    env: &[(String, String)],
    heard: &mut mpsc::UnboundedReceiver<Heard>,
    others: &mut Vec<String>,
) -> Result<Duration, BenchError> {
    let (started, mut child) = spawn(binary, env, heard)?;
    let deadline = tokio::time::sleep(START_LIMIT);
    tokio::pin!(deadline);
    let outcome = loop {
        tokio::select! {
            message = heard.recv() => match message {
                Some(Heard::Next(at)) => break Ok(at.duration_since(started)),
                Some(Heard::Other(path)) => others.push(format!("{}: {path}", binary.name)),
                None => break Err(BenchError::Failed("the runtime API stub stopped".into())),
            },
            status = child.wait() => {
                break Err(BenchError::Failed(format!(
                    "{} exited during init ({})",
                    binary.name,
                    status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())
                )));
            }
            _ = &mut deadline => {
                break Err(BenchError::Failed(format!("{} did not ask for work within {START_LIMIT:?}", binary.name)));
            }
        }
    };
    let _ = child.kill().await;
    outcome
}

/// Starts `binary` without its configuration and times it until it exits (which it must, at
/// its first configuration check, without asking for work).
async fn bare_once(
    binary: &Binary,
    env: &[(String, String)],
    heard: &mut mpsc::UnboundedReceiver<Heard>,
) -> Result<Duration, BenchError> {
    let (started, mut child) = spawn(binary, env, heard)?;
    let status = tokio::time::timeout(START_LIMIT, child.wait()).await;
    let took = started.elapsed();
    match status {
        Ok(Ok(status)) if !status.success() && heard.try_recv().is_err() => Ok(took),
        Ok(Ok(status)) => Err(BenchError::Failed(format!(
            "{} started without its configuration and did not stop at the check ({status})",
            binary.name
        ))),
        Ok(Err(e)) => Err(BenchError::Failed(format!("{}: {e}", binary.name))),
        Err(_) => Err(BenchError::Failed(format!(
            "{} without its configuration did not exit within {START_LIMIT:?}",
            binary.name
        ))),
    }
}

/// `runs` cold starts of each binary, interleaved so drift hits all of them alike, after one
/// discarded warm-up each (it pulls the binary into the page cache).
pub async fn measure(binaries: &[Binary], runs: usize) -> Result<ColdStartReport, BenchError> {
    let (tx, mut heard) = mpsc::unbounded_channel();
    let stub = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .fallback(other)
        .with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BenchError::io("runtime API stub"))?;
    let runtime_api = listener
        .local_addr()
        .map_err(BenchError::io("runtime API stub"))?
        .to_string();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, stub).await;
    });
    let connections = Arc::new(AtomicU64::new(0));
    let (aws_endpoint, aws_sentinel) = sentinel(connections.clone()).await?;
    let (rpc_url, rpc_sentinel) = sentinel(connections.clone()).await?;
    let env = function_env(&runtime_api, &aws_endpoint, &rpc_url);
    // Functions stop at `TABLE_NAME` (their own configuration), hello-world at
    // `AWS_LAMBDA_FUNCTION_NAME` (the runtime's).
    let bare_env: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k != "TABLE_NAME" && k != "AWS_LAMBDA_FUNCTION_NAME")
        .cloned()
        .collect();

    let mut all: Vec<ColdStarts> = binaries
        .iter()
        .map(|b| ColdStarts {
            name: b.name.clone(),
            samples: Vec::with_capacity(runs),
            bare: Vec::with_capacity(runs),
        })
        .collect();
    let mut other_calls = Vec::new();
    let measured = async {
        for binary in binaries {
            once(binary, &env, &mut heard, &mut other_calls).await?;
        }
        for _ in 0..runs {
            for (binary, starts) in binaries.iter().zip(all.iter_mut()) {
                let took = once(binary, &env, &mut heard, &mut other_calls).await?;
                starts.samples.push(took);
                let took = bare_once(binary, &bare_env, &mut heard).await?;
                starts.bare.push(took);
            }
        }
        Ok::<(), BenchError>(())
    }
    .await;
    server.abort();
    aws_sentinel.abort();
    rpc_sentinel.abort();
    measured?;
    let report = ColdStartReport {
        binaries: all,
        init_connections: connections.load(Ordering::Relaxed),
        other_calls,
        runs,
    };
    Ok(report)
}
