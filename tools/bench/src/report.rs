//! The table `make bench` prints, and the page it writes (`docs/benchmarks.md`): this module
//! computes the numbers, prices and verdicts, `templates/benchmarks.md.j2` lays them out, and
//! `docs/benchmarking.md` says how each is measured and how to read it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use devstack::Role;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, value::Serde};
use serde_json::{Value, json};

use crate::binaries::{ColdStarts, Sizes, Starts};
use crate::handlers::HandlerCost;
use crate::pipeline::{CHALLENGE_TIME_SCALE, MADE_BY, RequestCounts, Run, Sample};
use crate::{BenchError, HELLO};

/// The cold-start budget: each function at most this many times hello-world.
const COLD_START_BUDGET: f64 = 1.5;
/// The package budget, per zip.
const ZIP_BUDGET_BYTES: u64 = 4_000_000;
/// `make bench` on a fresh machine.
const RUN_TIME_BUDGET: Duration = Duration::from_secs(15 * 60);
/// What the API invocation of a lone transaction is assumed to last (no latency was measured).
const SINGLE_TX_API_SECONDS: f64 = 0.05;
const TEMPLATE: &str = include_str!("../templates/benchmarks.md.j2");

// us-east-1 list prices (on-demand, before free tiers), in dollars; check them against the AWS
// pricing pages before relying on them. DynamoDB Streams' `GetRecords` by a Lambda trigger and
// SNS's delivery to SQS are free.
const API_GATEWAY_HTTP_PER_MILLION: f64 = 1.00;
const LAMBDA_REQUESTS_PER_MILLION: f64 = 0.20;
/// arm64 at 256 MB (`lambda_memory_mb` in `infra/variables.tf`): $0.0000133334 per GB-second.
const LAMBDA_SECOND: f64 = 0.000_013_333_4 * 0.25;
/// Standard queues; a batch of up to 10 is one request.
const SQS_PER_MILLION: f64 = 0.40;
const SNS_PUBLISH_PER_MILLION: f64 = 0.50;
const DYNAMODB_WRU_PER_MILLION: f64 = 0.625;
const DYNAMODB_RRU_PER_MILLION: f64 = 0.125;
/// "Asymmetric requests except RSA 2048" (Sign, GetPublicKey): $0.15 per 10,000.
const KMS_ASYMMETRIC_PER_MILLION: f64 = 15.0;

/// DynamoDB `(write, read)` request units of one request, for a transaction item of
/// `item_bytes` (the other items, nonce counters and idempotency keys, are under 1 KB): writes
/// bill 1 WRU per KB, transactional writes twice that for each of their two items, strongly
/// consistent reads 1 RRU per 4 KB, index queries (eventually consistent) half that.
fn dynamodb_units(operation: &str, item_bytes: usize) -> (f64, f64) {
    let write = item_bytes.div_ceil(1024).max(1) as f64;
    let read = item_bytes.div_ceil(4096).max(1) as f64;
    match operation {
        "PutItem" | "UpdateItem" | "DeleteItem" => (write, 0.0),
        "TransactWriteItems" => (2.0 * (write + 1.0), 0.0),
        "GetItem" | "BatchGetItem" => (0.0, read),
        "Query" | "Scan" => (0.0, 0.5 * read),
        _ => (0.0, 0.0),
    }
}

/// Dollars per million transactions like `sample`'s; `api_seconds` is the API function's
/// duration per POST, each answered by one invocation.
fn bill(sample: &Sample, item_bytes: usize, api_seconds: f64) -> f64 {
    let requests: f64 = sample
        .requests
        .iter()
        .map(|((_, service, operation), n)| {
            let price = match service.as_str() {
                "SQS" => SQS_PER_MILLION,
                "SNS" => SNS_PUBLISH_PER_MILLION,
                "KMS" => KMS_ASYMMETRIC_PER_MILLION,
                "DynamoDB" => {
                    let (wru, rru) = dynamodb_units(operation, item_bytes);
                    wru * DYNAMODB_WRU_PER_MILLION + rru * DYNAMODB_RRU_PER_MILLION
                }
                _ => 0.0,
            };
            *n as f64 * price
        })
        .sum();
    // The sweeper's schedule is a fixed cost, not a transaction's.
    let consumers = sample
        .invoked
        .iter()
        .filter(|(role, _)| **role != Role::Sweeper);
    let invocations = consumers.map(|(_, i)| i.invocations).sum::<u64>() as f64;
    let tx = sample.transactions.max(1) as f64;
    let seconds = sample.handler_seconds_per_tx() + api_seconds;
    requests / tx
        + API_GATEWAY_HTTP_PER_MILLION
        + (1.0 + invocations / tx) * LAMBDA_REQUESTS_PER_MILLION
        + seconds * LAMBDA_SECOND * 1e6
}

/// A phase's result.
#[derive(Debug, Clone, Default)]
pub enum Outcome<T> {
    #[default]
    Skipped,
    Failed(String),
    Done(T),
}

impl<T> Outcome<T> {
    /// The page's section for this phase: `view` of its result, or why there is none.
    fn part(&self, view: impl FnOnce(&T) -> Value) -> Value {
        match self {
            Outcome::Skipped => json!({ "note": "skipped in this run", "done": null }),
            Outcome::Failed(e) => json!({ "note": format!("failed: {e}"), "done": null }),
            Outcome::Done(t) => json!({ "note": null, "done": view(t) }),
        }
    }
}

/// The machine and versions a run happened on.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub cargo_lambda: String,
    pub ministack: String,
    pub anvil: String,
    pub commit: String,
}

impl Machine {
    /// Reads `/proc`, asks the tools in `root/.tools` their versions, and names the commit
    /// (`+ uncommitted changes` when the work tree differs from it).
    pub fn describe(root: &Path) -> Machine {
        // The first line `script` prints, run from `root`.
        let sh = |script: &str| {
            let out = Command::new("sh")
                .args(["-c", script])
                .current_dir(root)
                .output();
            let out = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
            let line = out
                .ok()
                .and_then(|o| Some(o.lines().next()?.trim().to_owned()));
            line.filter(|l| !l.is_empty())
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            cpu: sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo"),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: sh("awk '/^MemTotal/ { printf \"%.1f GiB\", $2 / 1048576 }' /proc/meminfo"),
            kernel: sh("uname -r"),
            rustc: sh("rustc -V"),
            cargo_lambda: sh(".tools/cargo-lambda/bin/cargo-lambda lambda --version"),
            ministack: sh("ls -a .tools/ministack | sed -n 's/^\\.installed-//p'"),
            anvil: sh(
                ".tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil --version",
            ),
            commit: sh("git rev-parse --short=12 HEAD | tr -d '\\n'; \
                git status --porcelain | grep -q . && echo ' + uncommitted changes'"),
        }
    }
}

/// How long the parts of `make bench` took (measured by `scripts/bench.sh`).
#[derive(Debug, Clone, Default)]
pub struct Timings {
    pub tools: Option<Duration>,
    /// The one `cargo lambda build --release`: functions, hello-world, harness and benchmarks.
    pub build: Option<Duration>,
    /// The build's CPU time, user + system, all cores.
    pub build_cpu: Option<Duration>,
    /// Whether the build started without any earlier release build in `target/`: only then does
    /// the run time say anything of a fresh machine's.
    pub build_fresh: bool,
    pub criterion: Option<Duration>,
    /// From `make bench`'s start to the harness's start.
    pub before_harness: Option<Duration>,
    pub harness: Duration,
}

/// Everything one run measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub machine: Machine,
    pub timings: Timings,
    pub cold_starts: Outcome<ColdStarts>,
    pub sizes: Outcome<Sizes>,
    pub handlers: Vec<HandlerCost>,
    pub counts: Outcome<RequestCounts>,
    pub end_to_end: Outcome<Run>,
    pub challenge: Outcome<Run>,
    /// Phase 7: the same burst through 1, 2 and 4 lanes.
    pub lanes: Outcome<Vec<(usize, Run)>>,
}

/// `12.3 ms`, `4.56 s`, `2 min 05 s`.
fn human(d: Duration) -> String {
    match d.as_secs_f64() {
        s if s >= 120.0 => format!("{} min {:02} s", d.as_secs() / 60, d.as_secs() % 60),
        s if s >= 10.0 => format!("{s:.1} s"),
        s if s >= 1.0 => format!("{s:.2} s"),
        s if s >= 1e-3 => format!("{:.1} ms", s * 1e3),
        s if s >= 10e-6 => format!("{:.0} µs", s * 1e6),
        s if s >= 1e-6 => format!("{:.2} µs", s * 1e6),
        s => format!("{:.0} ns", s * 1e9),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// `—` for what was not measured.
fn or_dash<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "—".into(), show)
}

fn dollars(x: f64) -> String {
    match x {
        x if x >= 100.0 => format!("${x:.0}"),
        x if x >= 1.0 => format!("${x:.2}"),
        x => format!("${x:.3}"),
    }
}

fn per_tx(n: f64) -> String {
    match n {
        n if (n - n.round()).abs() < 1e-9 => format!("{n:.0}"),
        n if n.abs() < 0.1 => format!("{n:.3}"),
        n => format!("{n:.2}"),
    }
}

/// Nearest-rank percentile.
fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

impl Results {
    /// The summary table.
    pub fn table(&self) -> String {
        render(&self.context(), Some("summary")).unwrap_or_else(|e| format!("{e}\n"))
    }

    /// The whole page.
    pub fn page(&self) -> Result<String, BenchError> {
        render(&self.context(), None)
    }

    fn context(&self) -> Value {
        let e2e = match &self.end_to_end {
            Outcome::Done(run) => Some(run),
            _ => None,
        };
        json!({
            "machine": self.machine,
            "times": self.times(),
            "cold": self.cold_starts.part(cold_start),
            "sizes": self.sizes.part(sizes),
            "handlers": handlers(&self.handlers),
            "requests": self.counts.part(|c| requests(c, e2e)),
            "end_to_end": self.end_to_end.part(end_to_end),
            "challenge": self.challenge.part(|r| challenge(r, e2e)),
            "lanes": self.lanes.part(|runs| lanes(runs)),
        })
    }

    /// §0: `make bench` from its start to the end of the measurements.
    fn times(&self) -> Value {
        let t = &self.timings;
        let total = t.before_harness.map(|b| b + t.harness);
        // A build that reused an earlier release build says nothing of a fresh machine's.
        let verdict = total.map(|total| match (t.build_fresh, total <= RUN_TIME_BUDGET) {
            (false, _) => "cached",
            (true, true) => "within",
            (true, false) => "over",
        });
        json!({
            "tools": or_dash(t.tools, human),
            "build": or_dash(t.build, human),
            "build_cpu": or_dash(t.build_cpu, human),
            "criterion": or_dash(t.criterion, human),
            "harness": human(t.harness),
            "total": or_dash(total, human),
            "measurements": human(t.harness + t.criterion.unwrap_or_default()),
            "verdict": verdict,
        })
    }
}

/// §1: each binary beside hello-world, its median split into bare start and init work.
fn cold_start(c: &ColdStarts) -> Value {
    let median = |s: &[Duration]| percentile(s, 50.0);
    let hello = c.binaries.iter().find(|b| b.name == HELLO);
    let hello = hello.and_then(|b| median(&b.samples));
    let ratio = |b: &Starts| Some(median(&b.samples)?.as_secs_f64() / hello?.as_secs_f64());
    let times = |r: f64| format!("{r:.2}×");
    let rows = c.binaries.iter().map(|b| {
        let (m, bare) = (median(&b.samples), median(&b.bare));
        let p90 = percentile(&b.samples, 90.0);
        let init = m.zip(bare).map(|(m, b)| m.saturating_sub(b));
        [
            b.name.clone(),
            or_dash(m, ms),
            or_dash(p90, ms),
            or_dash(ratio(b), times),
            or_dash(bare, ms),
            or_dash(init, ms),
        ]
    });
    let functions: Vec<&Starts> = c.binaries.iter().filter(|b| b.name != HELLO).collect();
    let over = |b: &&Starts| ratio(b).unwrap_or(f64::INFINITY);
    let slowest = functions.iter().max_by(|a, b| over(a).total_cmp(&over(b)));
    let within = functions
        .iter()
        .filter(|b| over(b) <= COLD_START_BUDGET)
        .count();
    let mark = if within == functions.len() {
        "✅"
    } else {
        "❌"
    };
    let worst = or_dash(slowest.and_then(|b| ratio(b)), times);
    json!({
        "binaries": rows.collect::<Vec<_>>(),
        "hello": or_dash(hello, ms),
        "slowest": slowest.map_or("—", |b| b.name.as_str()),
        "slowest_median": or_dash(slowest.and_then(|b| median(&b.samples)), ms),
        "verdict": format!("{mark} {worst} ({within} of {} within)", functions.len()),
        "connections": c.init_connections,
    })
}

/// §2.
fn sizes(s: &Sizes) -> Value {
    let hello = s.packages.iter().find(|p| p.name == HELLO);
    let functions = || s.packages.iter().filter(|p| p.name != HELLO);
    let largest = functions().max_by_key(|p| p.zip_bytes);
    let verdict = |zip: Option<u64>| match zip {
        None => "not built",
        Some(z) if z <= ZIP_BUDGET_BYTES => "✅",
        Some(_) => "❌",
    };
    let packages = s.packages.iter().map(|p| {
        let v = if p.name == HELLO {
            "—"
        } else {
            verdict(p.zip_bytes)
        };
        let (zip, binary) = (or_dash(p.zip_bytes, mb), or_dash(p.binary_bytes, mb));
        [p.name.clone(), zip, binary, v.into()]
    });
    json!({
        "arch": s.arch,
        "arm64": s.targets.iter().any(|t| t == "aarch64-unknown-linux-gnu"),
        "targets": s.targets.join("`, `"),
        "packages": packages.collect::<Vec<_>>(),
        "largest": largest.map_or("—", |p| p.name.as_str()),
        "largest_zip": or_dash(largest.and_then(|p| p.zip_bytes), mb),
        "hello_zip": or_dash(hello.and_then(|h| h.zip_bytes), mb),
        "within": functions().all(|p| verdict(p.zip_bytes) == "✅"),
    })
}

/// §3.
fn handlers(costs: &[HandlerCost]) -> Value {
    let time = |ns: f64| human(Duration::from_nanos(ns.round() as u64));
    let rows = costs.iter().map(|h| {
        let (a, ns) = (h.allocations, h.median_ns);
        let (count, bytes) = (a.map(|a| a.allocations), a.map(|a| a.bytes));
        [
            format!("`{}`", h.id),
            or_dash(ns, time),
            or_dash(count, |n| format!("{n:.0}")),
            or_dash(bytes, |n| format!("{n:.0}")),
        ]
    });
    // The largest `value` of any path, and which.
    let top = |value: &dyn Fn(&HandlerCost) -> Option<f64>| {
        let values = costs.iter().filter_map(|h| Some((value(h)?, h.id)));
        values.reduce(|a, b| if b.0 > a.0 { b } else { a })
    };
    let most = |h: &HandlerCost| Some(h.allocations?.allocations);
    let summary = match (top(&|h| h.median_ns), top(&most)) {
        (None, _) => "not measured".to_owned(),
        (Some((ns, id)), None) => format!("slowest {} (`{id}`)", time(ns)),
        (Some((ns, id)), Some((n, most))) => {
            format!(
                "slowest {} (`{id}`); at most {n:.0} allocations (`{most}`)",
                time(ns)
            )
        }
    };
    json!({ "rows": rows.collect::<Vec<_>>(), "summary": summary })
}

/// §4: requests per transaction by who made them, and their bill.
fn requests(c: &RequestCounts, e2e: Option<&Run>) -> Value {
    let lone = SINGLE_TX_API_SECONDS;
    let mut columns = vec![
        ("happy path", &c.happy, lone),
        ("one retry", &c.one_retry, lone),
    ];
    // At load, the median POST latency stands for the API function's duration.
    if let Some(r) = e2e {
        let api = percentile(&r.latencies, 50.0).map_or(lone, |d| d.as_secs_f64());
        columns.push(("at load (e2e)", &r.sample, api));
    }
    let order = |who: &str| MADE_BY.iter().position(|m| *m == who);
    let keys = columns.iter().flat_map(|(_, s, _)| s.requests.keys());
    let keys: BTreeSet<_> = keys.map(|key| (order(key.0), key)).collect();
    let rows = keys.iter().map(|(_, key)| {
        let per_tx_of = |s: &Sample| s.requests.get(*key).map_or(0.0, |n| *n as f64) / s.tx();
        let counts = columns.iter().map(|(_, s, _)| per_tx(per_tx_of(s)));
        let names = [key.0, &key.1, &key.2].map(str::to_owned);
        names.into_iter().chain(counts).collect::<Vec<_>>()
    });
    let (mut totals, mut bills) = (Vec::new(), Vec::new());
    for (_, s, api) in &columns {
        totals.push(per_tx(s.requests_per_tx()));
        bills.push(dollars(bill(s, c.item_bytes, *api)));
    }
    let summary = |values: &[String]| {
        let named = columns
            .iter()
            .zip(values)
            .map(|((name, ..), v)| format!("{v} {name}"));
        named.collect::<Vec<_>>().join(", ")
    };
    json!({
        "columns": columns.iter().map(|(name, ..)| *name).collect::<Vec<_>>(),
        "rows": rows.collect::<Vec<_>>(),
        "summary": summary(&totals),
        "bill_summary": summary(&bills),
        "totals": totals,
        "bills": bills,
        "retry_events": c.retry_events,
        "item_bytes": c.item_bytes,
    })
}

/// §5.
fn end_to_end(r: &Run) -> Value {
    let latency = |p| or_dash(percentile(&r.latencies, p), ms);
    json!({
        "transactions": r.transactions,
        "concurrency": r.concurrency,
        "answered": r.latencies.len(),
        "first_error": r.first_error,
        "confirmed": r.confirmed,
        "failed": r.failed,
        "timed_out": r.timed_out,
        "elapsed": human(r.elapsed),
        "throughput": format!("{:.1}", r.confirmed as f64 / r.elapsed.as_secs_f64().max(1e-9)),
        "latency": (!r.latencies.is_empty()).then(|| json!({
            "p50": latency(50.0), "p95": latency(95.0), "p99": latency(99.0), "max": latency(100.0),
        })),
        "handler_seconds": format!("{:.3}", r.sample.handler_seconds_per_tx()),
        // The run's AWS request rate beside the ceiling's, and the emulator's CPU time per
        // second beside its most: the share of the emulator the run kept busy.
        "aws_rate": format!("{:.0}", r.aws_requests_per_second()),
        "ceiling": r.emulator_ceiling.map(|c| json!({
            "rate": format!("{:.0}", c.requests_per_second),
            "rate_share": format!("{:.2}", r.aws_requests_per_second() / c.requests_per_second.max(1e-9)),
            "busiest": c.busy.map(|b| format!("{b:.2}")),
        })),
        "busy": r.emulator_busy.map(|b| format!("{b:.2}")),
        "idle": r.emulator_idle.map(|b| format!("{b:.2}")),
        "share": r.emulator_share().map(|s| format!("{s:.2}")),
        "share_met": r.emulator_share().map(|s| s >= E2E_SHARE_BUDGET),
        "share_budget": E2E_SHARE_BUDGET,
    })
}

/// The end-to-end run should keep the emulator at least this busy (issue 14): what it does not
/// use is the pipeline's own waiting.
const E2E_SHARE_BUDGET: f64 = 0.7;

/// §6. Handler-seconds per transaction at full scale: the zero-latency run's handler time (the
/// AWS round trips and CPU), plus the node calls each transaction made here at the preset's
/// full-scale mean wait, shared by the records of an invocation (they run concurrently, so an
/// invocation lasts about as long as one record's calls).
fn challenge(r: &Run, e2e: Option<&Run>) -> Value {
    let projection = e2e.map(|e2e| {
        let aws = e2e.sample.handler_seconds_per_tx();
        let calls = r.node.requests as f64 / r.sample.transactions.max(1) as f64;
        let mean_wait = crate::pipeline::challenge_mean_wait().as_secs_f64();
        // The records of an invocation run concurrently.
        let (records, invocations) = [Role::Signer, Role::Broadcaster]
            .iter()
            .filter_map(|role| r.sample.invoked.get(role))
            .fold((0, 0), |(r, i), m| (r + m.records, i + m.invocations));
        let per_invocation = (records as f64 / invocations.max(1) as f64).max(1.0);
        json!({
            "aws": format!("{aws:.3}"),
            "calls": per_tx(calls),
            "mean_wait": format!("{mean_wait:.1}"),
            "sequential": format!("{:.0}", calls * mean_wait),
            "per_invocation": format!("{per_invocation:.1}"),
            "billed": format!("{:.1}", aws + calls * mean_wait / per_invocation),
            "one_by_one": format!("{:.0}", aws + calls * mean_wait),
        })
    });
    let (n, faults) = (&r.node, &r.node.faults);
    json!({
        "transactions": r.transactions,
        "concurrency": r.concurrency,
        "scale": CHALLENGE_TIME_SCALE,
        "confirmed": r.confirmed,
        "failed": r.failed,
        "timed_out": r.timed_out,
        "all_confirmed": r.confirmed == r.transactions && !r.timed_out,
        "elapsed": human(r.elapsed),
        "retries": r.retries.0,
        "retried": r.retries.1,
        "gapless": r.nonces_gapless,
        "node": format!(
            "{} requests: {} slow, faults: {} HTTP 5xx, {} JSON-RPC errors, {} hangs, {} drops",
            n.requests, n.slow, faults.http_5xx, faults.rpc_errors(), faults.hang, faults.drop
        ),
        "measured": format!("{:.3}", r.sample.handler_seconds_per_tx()),
        "projection": projection,
    })
}

/// Budgets of §7: confirmed tx/s of 2 and 4 lanes against 1's.
pub const LANES_BUDGET: [(usize, f64); 2] = [(2, 1.8), (4, 3.0)];

/// §7: the burst through each lane count, and each count's speed-up over one lane.
fn lanes(runs: &[(usize, Run)]) -> Value {
    let one = runs
        .iter()
        .find(|(lanes, _)| *lanes == 1)
        .map(|(_, r)| r.confirmed_per_second());
    let rows: Vec<Value> = runs
        .iter()
        .map(|(lanes, r)| {
            let speedup = one.map(|one| r.confirmed_per_second() / one.max(1e-9));
            let budget = LANES_BUDGET
                .iter()
                .find(|(n, _)| n == lanes)
                .map(|(_, b)| *b);
            json!({
                "lanes": lanes,
                "used": r.lanes_used,
                "transactions": r.transactions,
                "confirmed": r.confirmed,
                "failed": r.failed,
                "timed_out": r.timed_out,
                "elapsed": human(r.elapsed),
                "rate": format!("{:.1}", r.confirmed_per_second()),
                "speedup": speedup.map(|s| format!("{s:.2}×")),
                "budget": budget.map(|b| format!("≥ {b:.1}×")),
                "within": match (speedup, budget) {
                    (Some(s), Some(b)) => Some(s >= b),
                    _ => None,
                },
                "gapless": r.nonces_gapless,
                "refusals": r.node.pending_limit_refusals,
                "requests_per_tx": per_tx(r.sample.requests_per_tx()),
            })
        })
        .collect();
    json!({
        "block_seconds": crate::pipeline::LANES_BLOCK_SECONDS,
        "pending_per_sender": crate::pipeline::LANES_PENDING_PER_SENDER,
        "runs": rows,
    })
}

/// Renders the page, or only its `block`. Undefined names are errors, so a name the template
/// uses and the context lacks fails here (and in the tests below), not as a blank on the page.
fn render(context: &Value, block: Option<&str>) -> Result<String, BenchError> {
    let failed =
        |e: minijinja::Error| BenchError::Failed(format!("rendering docs/benchmarks.md: {e}"));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build();
    env.set_syntax(syntax.map_err(failed)?);
    env.add_template("benchmarks.md.j2", TEMPLATE)
        .map_err(failed)?;
    let template = env.get_template("benchmarks.md.j2").map_err(failed)?;
    match block {
        None => template.render(Serde(context)).map_err(failed),
        Some(block) => {
            let mut rendered = template.render_captured(Serde(context)).map_err(failed)?;
            rendered
                .with_state_mut(|state| state.render_block(block))
                .map_err(failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binaries::{Package, Starts};
    use crate::pipeline::Invoked;

    const HEADER: &str = "| Measure | Result | Beside it (same run) | Budget | Verdict |";

    /// Renders the page and the table, and finds `expected` on the page.
    fn renders(results: &Results, expected: &[&str]) {
        let page = results.page().unwrap_or_else(|e| panic!("{e}"));
        assert!(page.contains(HEADER) && page.contains("[docs/benchmarking.md](benchmarking.md)"));
        assert!(!page.contains("\n\n\n"), "stray blank lines in:\n{page}");
        let table = results.table();
        assert!(
            table.starts_with(HEADER) && page.contains(&table),
            "{table}"
        );
        for line in expected {
            assert!(page.contains(line), "{line:?} missing from:\n{page}");
        }
    }

    /// Every phase done, with a little of everything, then failed or skipped, so each branch of
    /// the template runs: a name the template misspells fails here.
    #[test]
    fn every_section_renders_done_failed_or_skipped() {
        let ms = Duration::from_millis;
        let starts = |name: &str, start| Starts {
            name: name.into(),
            samples: vec![ms(start)],
            bare: vec![ms(1)],
        };
        let package = |name: &str| Package {
            name: name.into(),
            zip_bytes: Some(2_000_000),
            binary_bytes: Some(5_000_000),
        };
        let mut run = Run {
            transactions: 1,
            latencies: vec![ms(30)],
            first_error: Some("HTTP 503".into()),
            ..Run::default()
        };
        run.sample.transactions = 1;
        let key = (MADE_BY[0], "SQS".to_owned(), "SendMessage".to_owned());
        run.sample.requests.insert(key, 1);
        run.sample.invoked.insert(Role::Signer, Invoked::default());
        let results = Results {
            machine: Machine::default(),
            timings: Timings {
                before_harness: Some(ms(1)),
                ..Timings::default()
            },
            cold_starts: Outcome::Done(ColdStarts {
                binaries: vec![starts("api", 3), starts(HELLO, 2)],
                init_connections: 0,
            }),
            sizes: Outcome::Done(Sizes {
                packages: vec![package("api"), package(HELLO)],
                arch: "x86_64".into(),
                targets: vec!["x86_64-unknown-linux-gnu".into()],
            }),
            handlers: crate::handlers::read(Path::new("no criterion here")),
            counts: Outcome::Done(RequestCounts {
                happy: run.sample.clone(),
                ..RequestCounts::default()
            }),
            end_to_end: Outcome::Done(Run {
                emulator_busy: Some(0.9),
                emulator_idle: Some(0.1),
                emulator_ceiling: Some(crate::pipeline::Ceiling {
                    requests_per_second: 500.0,
                    busy: Some(1.0),
                }),
                elapsed: Duration::from_secs(1),
                ..run.clone()
            }),
            challenge: Outcome::Done(run.clone()),
            lanes: Outcome::Done(
                [(1, 10), (2, 5), (4, 4)]
                    .into_iter()
                    .map(|(lanes, seconds)| {
                        let run = Run {
                            transactions: 100,
                            confirmed: 100,
                            elapsed: Duration::from_secs(seconds),
                            lanes_used: lanes,
                            nonces_gapless: true,
                            ..run.clone()
                        };
                        (lanes, run)
                    })
                    .collect(),
            ),
        };
        renders(
            &results,
            &[
                "| 1. cold start, slowest function (api) | 3.0 ms median | hello-world 2.0 ms median | ≤ 1.5× hello-world | ✅ 1.50× (1 of 1 within) |",
                "| api | 3.0 ms | 3.0 ms | 1.50× | 1.0 ms | 2.0 ms |",
                "| 2. zip size, largest (api) | 2.00 MB x86_64 zip | hello-world 2.00 MB | ≤ 4 MB arm64 zip | ✅ x86_64; arm64 not buildable here (§2) |",
                "| 3. handler cost (11 pure paths) | not measured |",
                "| 4. AWS requests per tx | 1 happy path, 0 one retry, 1 at load (e2e) |",
                "| functions | SQS | SendMessage | 1 | 0 | 1 |",
                "| 5. API latency (POST) | p50 30.0 ms, p95 30.0 ms, p99 30.0 ms |",
                "| 5. share of the emulator's ceiling | 0.80 (busy 0.90 CPU-s/s, less 0.10 idle, of its 1.00) | the emulator alone, right after (§5) | ≥ 0.7 | ✅ |",
                "(first error: HTTP 503)",
                "| nonces distinct and gap-free | **no** |",
                "≈ **",
                "| 7. 2 lanes | 20.0 tx/s confirmed (100 of 100 in 5.00 s) | ≥ 1.8× of 1 lane's | 2.00× | ✅ |",
                "| 7. 4 lanes | 25.0 tx/s confirmed (100 of 100 in 4.00 s) | ≥ 3.0× of 1 lane's | 2.50× | ❌ |",
                "| 4 | 4 | 100 of 100 | 4.00 s | **25.0** | 2.50× | ≥ 3.0× ❌ | 0 |",
            ],
        );
        // An emulator whose process can't be read (a container): its share is not judged.
        let unmeasured = Results {
            end_to_end: Outcome::Done(Run {
                emulator_ceiling: Some(crate::pipeline::Ceiling {
                    requests_per_second: 500.0,
                    busy: None,
                }),
                elapsed: Duration::from_secs(1),
                ..run.clone()
            }),
            ..Results::default()
        };
        renders(
            &unmeasured,
            &[
                "| 5. share of the emulator's ceiling | not measured: the emulator's process is not on this machine (§5) | 1 AWS requests/s, its ceiling's mix 500 | ≥ 0.7 | not judged |",
            ],
        );
        let failed = Results {
            machine: Machine {
                cores: 2,
                ..Machine::default()
            },
            timings: Timings {
                build: Some(Duration::from_secs(85)),
                build_cpu: Some(Duration::from_secs(160)),
                build_fresh: true,
                before_harness: Some(Duration::from_secs(1000)),
                harness: Duration::from_secs(97),
                ..Timings::default()
            },
            cold_starts: Outcome::Failed("hello-lambda exited during init".into()),
            challenge: Outcome::Failed("timed out".into()),
            lanes: Outcome::Failed("anvil did not start".into()),
            ..Results::default()
        };
        renders(
            &failed,
            &[
                "| `make bench` run time | 18 min 17 s (build 85.0 s, measurements 97.0 s) |",
                "build 85.0 s (2 min 40 s of CPU time)",
                "Over the 15-minute budget for a fresh machine",
                "| 1. cold start | failed: hello-lambda exited during init |",
                "## 2. Package size\n\nskipped in this run\n",
                "## 6. The challenge's node\n\nfailed: timed out\n",
                "| 7. lanes | failed: anvil did not start |",
            ],
        );
    }

    #[test]
    fn units_follow_item_size_and_sqs_costs_forty_cents_a_million() {
        assert_eq!(dynamodb_units("UpdateItem", 1500), (2.0, 0.0));
        assert_eq!(dynamodb_units("TransactWriteItems", 900), (4.0, 0.0));
        assert_eq!(dynamodb_units("Query", 1500), (0.0, 0.5));
        let mut sample = Sample::default();
        sample
            .requests
            .insert((MADE_BY[0], "SQS".into(), "SendMessage".into()), 1);
        let fixed = API_GATEWAY_HTTP_PER_MILLION + LAMBDA_REQUESTS_PER_MILLION;
        assert!((bill(&sample, 500, 0.0) - fixed - 0.40).abs() < 1e-9);
    }
}
