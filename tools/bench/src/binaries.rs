//! The release binaries: cold start (process start to the first `next` on a local stand-in for
//! the Lambda Runtime API, with sentinel listeners counting any network call during init), and
//! the size of the zips they ship in. The method is in `docs/benchmarking.md`, §1 and §2.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::BenchError;

/// One binary's cold starts.
#[derive(Debug, Clone, Default)]
pub struct Starts {
    pub name: String,
    pub samples: Vec<Duration>,
    /// Without its configuration, until it exits at the first check.
    pub bare: Vec<Duration>,
}

#[derive(Debug, Clone, Default)]
pub struct ColdStarts {
    pub binaries: Vec<Starts>,
    /// Connections the sentinels saw while the binaries started: network calls during init.
    pub init_connections: u64,
}

/// When the stub heard each `next`.
type Ears = mpsc::UnboundedReceiver<Instant>;

/// How long a start may take before the measurement gives up on it.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The environment every function reads (see each `Config::from_env`), with dummy values.
fn function_env(runtime_api: &str, aws: &str, rpc: &str) -> Vec<(&'static str, String)> {
    let queue = |name: &str| format!("{aws}/000000000000/bench-{name}");
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]b".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ENDPOINT_URL", aws.to_owned()),
        ("TABLE_NAME", "bench-transactions".into()),
        ("WEBHOOK_TABLE_NAME", "bench-webhooks".into()),
        ("WEBHOOK_QUEUE_URL", queue("webhooks")),
        ("TOPIC_ARN", "arn:aws:sns:us-east-1:000000000000:b".into()),
        ("KMS_KEY_ID", "alias/bench-signer".into()),
        ("CHAIN_ID", "31337".into()),
        ("SIGN_QUEUE_URL", queue("sign")),
        ("SIGN_PRIORITY_QUEUE_URL", queue("sign-priority")),
        ("BROADCAST_QUEUE_URL", queue("broadcast")),
        ("BROADCAST_PRIORITY_QUEUE_URL", queue("broadcast-priority")),
        ("RPC_URL", rpc.to_owned()),
        ("TARGET_CONTRACT", format!("0x{}", "7a".repeat(20))),
        ("WEBSOCKET_ENDPOINT", aws.to_owned()),
        // Required by the api and the signer, as in every deployment.
        ("ALLOWED_MESSAGE_TYPES", "*".into()),
        (
            "COGNITO_ISSUER",
            "https://cognito-idp.us-east-1.amazonaws.com/b".into(),
        ),
        ("COGNITO_CLIENT_ID", "bench-status-page".into()),
        ("RUST_LOG", "info".into()),
    ]
}

/// Starts `path` once with exactly `env`, silent, and times it to its first `next`; `bare`
/// (without its configuration), until it exits at its first configuration check, as it must,
/// without asking for work.
async fn once(
    path: &Path,
    env: &[(&str, String)],
    bare: bool,
    ears: &mut Ears,
) -> Result<Duration, BenchError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    while ears.try_recv().is_ok() {}
    let started = Instant::now();
    let mut child = tokio::process::Command::new(path)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(BenchError::io(path.display()))?;
    let outcome = tokio::select! {
        heard = ears.recv() => match heard {
            Some(at) if !bare => Ok(at.duration_since(started)),
            Some(_) => Err("asked for work without its configuration".into()),
            None => Err("the runtime API stub stopped".to_owned()),
        },
        status = child.wait() => match status {
            Ok(status) if bare && !status.success() => Ok(started.elapsed()),
            status => Err(format!("exited during init ({status:?})")),
        },
        () = tokio::time::sleep(START_LIMIT) => Err(format!("not done in {START_LIMIT:?}")),
    };
    let _ = child.kill().await;
    let how = ["", " without its configuration"][usize::from(bare)];
    outcome.map_err(|e| BenchError::Failed(format!("{name}{how}: {e}")))
}

/// `runs` cold starts of each of `names` (in `bin_dir`), interleaved so drift hits all of them
/// alike, after one discarded warm-up each (it pulls the binary into the page cache).
pub async fn cold_starts(
    bin_dir: &Path,
    names: &[String],
    runs: usize,
) -> Result<ColdStarts, BenchError> {
    let (tx, mut ears) = mpsc::unbounded_channel();
    let stub = Router::new()
        .route(
            "/2018-06-01/runtime/invocation/next",
            axum::routing::get(
                |State(tx): State<mpsc::UnboundedSender<Instant>>| async move {
                    let _ = tx.send(Instant::now());
                    // Hold the request: the process stays where Lambda would freeze it.
                    std::future::pending::<()>().await
                },
            ),
        )
        .with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(BenchError::io("runtime API stub"))?;
    let runtime_api = listener.local_addr().map_err(BenchError::io("stub"))?;
    let server = tokio::spawn(async move { axum::serve(listener, stub).await });
    // Two listeners that only count connections: the AWS endpoint and the node.
    let (connections, mut sentinels) = (Arc::new(AtomicU64::new(0)), Vec::new());
    for _ in 0..2 {
        let listener = TcpListener::bind("127.0.0.1:0").await;
        let listener = listener.map_err(BenchError::io("sentinel"))?;
        let addr = listener.local_addr().map_err(BenchError::io("sentinel"))?;
        sentinels.push(format!("http://{addr}"));
        let count = connections.clone();
        tokio::spawn(async move {
            while listener.accept().await.is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let env = function_env(&runtime_api.to_string(), &sentinels[0], &sentinels[1]);
    // Functions stop at `TABLE_NAME` (their own configuration), hello-world at
    // `AWS_LAMBDA_FUNCTION_NAME` (the runtime's).
    let mut bare_env = env.clone();
    bare_env.retain(|(k, _)| *k != "TABLE_NAME" && *k != "AWS_LAMBDA_FUNCTION_NAME");

    let mut binaries: Vec<Starts> = names
        .iter()
        .map(|name| Starts {
            name: name.clone(),
            ..Starts::default()
        })
        .collect();
    let measured = async {
        for b in &binaries {
            once(&bin_dir.join(&b.name), &env, false, &mut ears).await?;
        }
        for _ in 0..runs {
            for b in &mut binaries {
                let path = bin_dir.join(&b.name);
                let took = once(&path, &env, false, &mut ears).await?;
                b.samples.push(took);
                let took = once(&path, &bare_env, true, &mut ears).await?;
                b.bare.push(took);
            }
        }
        Ok::<(), BenchError>(())
    }
    .await;
    server.abort();
    measured?;
    let init_connections = connections.load(Ordering::Relaxed);
    Ok(ColdStarts {
        binaries,
        init_connections,
    })
}

/// One package: `target/lambda/<name>/bootstrap.zip` and the binary in it.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: String,
    pub zip_bytes: Option<u64>,
    pub binary_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub packages: Vec<Package>,
    /// The architecture the zips were built for, e.g. `x86_64`.
    pub arch: String,
    /// `rustup target list --installed`.
    pub targets: Vec<String>,
}

/// The zips under `lambda_dir` and the binaries under `bin_dir`.
pub fn sizes(lambda_dir: &Path, bin_dir: &Path, names: &[String], arch: &str) -> Sizes {
    let size = |path: PathBuf| std::fs::metadata(path).ok().map(|m| m.len());
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let targets = targets.map_or_else(
        |_| String::new(),
        |o| String::from_utf8_lossy(&o.stdout).into(),
    );
    Sizes {
        packages: names
            .iter()
            .map(|name| Package {
                name: name.clone(),
                zip_bytes: size(lambda_dir.join(name).join("bootstrap.zip")),
                binary_bytes: size(bin_dir.join(name)),
            })
            .collect(),
        arch: arch.to_owned(),
        targets: targets.split_whitespace().map(str::to_owned).collect(),
    }
}
