//! `tx-bench`: the measuring half of `make bench` (`scripts/bench.sh` builds, starts the stack
//! and runs criterion first).
//!
//! ```text
//! tx-bench [--out docs/benchmarks.md] [--transactions 1000] [--challenge-transactions 1000]
//!          [--cold-runs 20] [--ceiling-requests 1000] [--only cold,size,count,ceiling,e2e,challenge]
//! ```
//!
//! Reads `AWS_ENDPOINT_URL` (the emulator), `BENCH_RPC_URL` (anvil), `BENCH_LAMBDA_DIR`
//! (`target/lambda`), `BENCH_BIN_DIR` (the release binaries, for this machine),
//! `BENCH_ZIP_BIN_DIR` (the binaries in the zips, when those are for another CPU), `BENCH_ARCH`
//! (the zips' CPU), `CRITERION_HOME`, and the build timings `scripts/bench.sh` measured (`BENCH_*_SECONDS`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::BenchError;
use bench::report::{Outcome, Results, Timings};
use tx_shared::aws::{AwsTimeouts, load_config};

/// The functions, as `make build-lambdas` builds them: every crate under `functions/`.
fn functions(root: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().join("Cargo.toml").is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
const HELLO: &str = "hello-lambda";

/// Measures cold start, package size, handler cost, AWS requests per transaction, end-to-end
/// throughput and the challenge node, and writes the report (`make bench` runs it).
#[derive(clap::Parser)]
#[command(name = "tx-bench")]
struct Args {
    /// Where the report goes.
    #[arg(long, default_value = "docs/benchmarks.md")]
    out: PathBuf,
    /// Transactions of the end-to-end run.
    #[arg(long, default_value_t = 1000)]
    transactions: u64,
    /// Transactions through the challenge node.
    #[arg(long, default_value_t = 1000)]
    challenge_transactions: u64,
    /// Cold starts per binary.
    #[arg(long, default_value_t = 20)]
    cold_runs: usize,
    /// Requests of the emulator's ceiling measurement.
    #[arg(long, default_value_t = 500)]
    ceiling_requests: u64,
    /// Only these measurements (comma-separated: cold, size, count, ceiling, e2e, challenge).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Passed by `cargo bench` to every target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn env_seconds(name: &str) -> Option<Duration> {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}

fn outcome<T>(result: Result<T, BenchError>) -> Outcome<T> {
    match result {
        Ok(t) => Outcome::Done(t),
        Err(e) => {
            eprintln!("tx-bench: {e}");
            Outcome::Failed(e.to_string())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::var("RUST_LOG").is_ok() {
        tx_shared::telemetry::init();
    }
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tx-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<bool, BenchError> {
    let started = Instant::now();
    let args = <Args as clap::Parser>::parse();
    let wants = |phase: &str| {
        args.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == phase))
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lambda_dir = env_path("BENCH_LAMBDA_DIR", "target/lambda");
    let bin_dir = env_path("BENCH_BIN_DIR", "target/x86_64-unknown-linux-gnu/release");
    let zip_bin_dir =
        std::env::var_os("BENCH_ZIP_BIN_DIR").map_or_else(|| bin_dir.clone(), PathBuf::from);
    let criterion_dir = env_path("CRITERION_HOME", "target/criterion");
    let arch = std::env::var("BENCH_ARCH").unwrap_or_else(|_| "x86_64".into());
    let anvil = std::env::var("BENCH_RPC_URL").ok();
    let emulator = std::env::var("AWS_ENDPOINT_URL").ok();

    let cold_starts = if wants("cold") {
        eprintln!("tx-bench: cold starts ({} runs each)", args.cold_runs);
        let binaries: Vec<bench::coldstart::Binary> = functions(&root)
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(HELLO))
            .map(|name| bench::coldstart::Binary {
                name: name.to_owned(),
                path: bin_dir.join(name),
            })
            .collect();
        outcome(bench::coldstart::measure(&binaries, args.cold_runs).await)
    } else {
        Outcome::Skipped
    };
    let sizes = if wants("size") {
        let functions = functions(&root);
        let names: Vec<&str> = functions
            .iter()
            .map(String::as_str)
            .chain([HELLO])
            .collect();
        Outcome::Done(bench::sizes::measure(
            &lambda_dir,
            &zip_bin_dir,
            &names,
            &arch,
        ))
    } else {
        Outcome::Skipped
    };
    let handlers = bench::handlers::read(&criterion_dir);

    let needs_stack = ["count", "ceiling", "e2e", "challenge"]
        .iter()
        .any(|p| wants(p));
    let (mut counts, mut ceiling, mut end_to_end, mut challenge) = (
        Outcome::Skipped,
        Outcome::Skipped,
        Outcome::Skipped,
        Outcome::Skipped,
    );
    if needs_stack {
        let (Some(anvil), Some(_)) = (anvil, emulator) else {
            return Err(BenchError::Config(
                "AWS_ENDPOINT_URL and BENCH_RPC_URL must name the bench stack's emulator and anvil (scripts/bench.sh sets them)".into(),
            ));
        };
        let sdk = load_config(AwsTimeouts::HANDLER).await;
        if wants("count") {
            eprintln!("tx-bench: counting requests per transaction");
            counts = outcome(bench::pipeline::count_requests(&sdk, &anvil).await);
        }
        if wants("ceiling") {
            eprintln!("tx-bench: the emulator's ceiling");
            ceiling =
                outcome(bench::ceiling::measure(&sdk, &anvil, args.ceiling_requests, 16).await);
        }
        if wants("e2e") {
            eprintln!("tx-bench: {} transactions end to end", args.transactions);
            end_to_end =
                outcome(bench::pipeline::end_to_end(&sdk, &anvil, args.transactions).await);
        }
        if wants("challenge") {
            eprintln!(
                "tx-bench: {} transactions through the challenge's node",
                args.challenge_transactions
            );
            challenge = outcome(
                bench::pipeline::challenge(&sdk, &anvil, args.challenge_transactions).await,
            );
        }
    }

    let failed = [
        matches!(cold_starts, Outcome::Failed(_)),
        matches!(counts, Outcome::Failed(_)),
        matches!(ceiling, Outcome::Failed(_)),
        matches!(end_to_end, Outcome::Failed(_)),
        matches!(challenge, Outcome::Failed(_)),
    ]
    .contains(&true);
    let results = Results {
        machine: bench::machine::describe(&root, &root.join(".tools")),
        timings: Timings {
            tools: env_seconds("BENCH_TOOLS_SECONDS"),
            build: env_seconds("BENCH_BUILD_SECONDS"),
            build_cpu: env_seconds("BENCH_BUILD_CPU_SECONDS"),
            build_fresh: std::env::var("BENCH_BUILD_FRESH").is_ok_and(|v| v == "1"),
            criterion: env_seconds("BENCH_CRITERION_SECONDS"),
            before_harness: env_seconds("BENCH_ELAPSED_SECONDS"),
            harness: started.elapsed(),
        },
        cold_starts,
        sizes,
        handlers,
        counts,
        ceiling,
        end_to_end,
        challenge,
    };
    println!("{}", results.table());
    let page = results.page()?;
    std::fs::write(&args.out, page).map_err(BenchError::io(args.out.display()))?;
    eprintln!("tx-bench: wrote {}", args.out.display());
    Ok(!failed)
}
