//! `tx-bench`: the measuring half of `make bench` (`scripts/bench.sh` builds, starts the stack
//! and runs criterion first).
//!
//! ```text
//! tx-bench [--out docs/benchmarks.md] [--transactions 1000] [--challenge-transactions 1000]
//!          [--cold-runs 20] [--lane-transactions 320] [--only cold,size,count,e2e,challenge,lanes]
//! ```
//!
//! Reads `AWS_ENDPOINT_URL` (the emulator), `BENCH_RPC_URL` (anvil), `BENCH_LAMBDA_DIR`
//! (`target/lambda`), `BENCH_BIN_DIR` (the release binaries, for this machine),
//! `BENCH_ZIP_BIN_DIR` (the binaries in the zips, when those are for another CPU), `BENCH_ARCH`
//! (the zips' CPU), `CRITERION_HOME`, and the timings `scripts/bench.sh` measured
//! (`BENCH_*_SECONDS`, `BENCH_BUILD_FRESH`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bench::report::{Machine, Outcome, Results, Timings};
use bench::{BenchError, HELLO, binaries, pipeline};
use tx_shared::aws::{AwsTimeouts, load_config};

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
    /// Transactions of each lanes run (1, 2 and 4 keys).
    #[arg(long, default_value_t = 320)]
    lane_transactions: u64,
    /// Cold starts per binary.
    #[arg(long, default_value_t = 20)]
    cold_runs: usize,
    /// Only these measurements.
    #[arg(long, value_delimiter = ',')]
    #[arg(value_parser = ["cold", "size", "count", "e2e", "challenge", "lanes"])]
    only: Option<Vec<String>>,
}

fn env_path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

fn env_seconds(name: &str) -> Option<Duration> {
    let seconds = std::env::var(name).ok()?.parse::<f64>().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

fn outcome<T>(result: Result<T, BenchError>) -> Outcome<T> {
    result.map_or_else(
        |e| {
            eprintln!("tx-bench: {e}");
            Outcome::Failed(e.to_string())
        },
        Outcome::Done,
    )
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
    let bin_dir = env_path("BENCH_BIN_DIR", "target/x86_64-unknown-linux-gnu/release");
    // The binaries as `make build-lambdas` builds them: every crate under `functions/`.
    let functions = root.join("functions");
    let mut names: Vec<String> = std::fs::read_dir(&functions)
        .map_err(BenchError::io(functions.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| functions.join(name).join("Cargo.toml").is_file())
        .collect();
    names.sort();
    names.push(HELLO.to_owned());

    let mut results = Results {
        machine: Machine::describe(&root),
        handlers: bench::handlers::read(&env_path("CRITERION_HOME", "target/criterion")),
        ..Results::default()
    };
    if wants("cold") {
        eprintln!("tx-bench: cold starts ({} runs each)", args.cold_runs);
        results.cold_starts =
            outcome(binaries::cold_starts(&bin_dir, &names, args.cold_runs).await);
    }
    if wants("size") {
        let zip_bin_dir =
            std::env::var_os("BENCH_ZIP_BIN_DIR").map_or(bin_dir.clone(), PathBuf::from);
        let lambda_dir = env_path("BENCH_LAMBDA_DIR", "target/lambda");
        let arch = std::env::var("BENCH_ARCH").unwrap_or_else(|_| "x86_64".into());
        results.sizes = Outcome::Done(binaries::sizes(&lambda_dir, &zip_bin_dir, &names, &arch));
    }
    if ["count", "e2e", "challenge", "lanes"]
        .iter()
        .any(|p| wants(p))
    {
        let (Ok(anvil), Some(_)) = (
            std::env::var("BENCH_RPC_URL"),
            std::env::var_os("AWS_ENDPOINT_URL"),
        ) else {
            return Err(BenchError::Failed(
                "AWS_ENDPOINT_URL and BENCH_RPC_URL must name the bench stack's emulator and anvil (scripts/bench.sh sets them)".into(),
            ));
        };
        let sdk = load_config(AwsTimeouts::HANDLER).await;
        if wants("count") {
            eprintln!("tx-bench: counting requests per transaction");
            results.counts = outcome(pipeline::count_requests(&sdk, &anvil).await);
        }
        if wants("e2e") {
            eprintln!("tx-bench: {} transactions end to end", args.transactions);
            results.end_to_end =
                outcome(pipeline::end_to_end(&sdk, &anvil, args.transactions).await);
        }
        if wants("challenge") {
            let n = args.challenge_transactions;
            eprintln!("tx-bench: {n} transactions through the challenge's node");
            results.challenge = outcome(pipeline::challenge(&sdk, &anvil, n).await);
        }
        if wants("lanes") {
            let n = args.lane_transactions;
            eprintln!("tx-bench: {n} transactions through 1, 2 and 4 lanes");
            results.lanes = outcome(pipeline::lanes(&sdk, n).await);
        }
    }

    results.timings = Timings {
        tools: env_seconds("BENCH_TOOLS_SECONDS"),
        build: env_seconds("BENCH_BUILD_SECONDS"),
        build_cpu: env_seconds("BENCH_BUILD_CPU_SECONDS"),
        build_fresh: std::env::var("BENCH_BUILD_FRESH").is_ok_and(|v| v == "1"),
        criterion: env_seconds("BENCH_CRITERION_SECONDS"),
        before_harness: env_seconds("BENCH_ELAPSED_SECONDS"),
        harness: started.elapsed(),
    };
    println!("{}", results.table());
    std::fs::write(&args.out, results.page()?).map_err(BenchError::io(args.out.display()))?;
    eprintln!("tx-bench: wrote {}", args.out.display());
    let failed = [
        matches!(results.cold_starts, Outcome::Failed(_)),
        matches!(results.counts, Outcome::Failed(_)),
        matches!(results.end_to_end, Outcome::Failed(_)),
        matches!(results.challenge, Outcome::Failed(_)),
        matches!(results.lanes, Outcome::Failed(_)),
    ];
    Ok(!failed.contains(&true))
}
