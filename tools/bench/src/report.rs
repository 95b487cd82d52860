//! The table `make bench` prints, and the page it writes (`docs/benchmarks.md`): this module
//! computes the numbers and verdicts, `templates/benchmarks.md.j2` lays them out, and
//! `docs/benchmarking.md` says how each is measured and how to read it.

use std::collections::BTreeSet;
use std::time::Duration;

use devstack::Role;
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, value::Serde};
use rpc_proxy::ProxyStats;
use serde::Serialize;

use crate::BenchError;
use crate::ceiling::{Ceiling, per_transaction};
use crate::coldstart::ColdStartReport;
use crate::cost::{self, Bill};
use crate::handlers::HandlerCost;
use crate::machine::Machine;
use crate::metering::{Counts, service_total};
use crate::pipeline::{CHALLENGE_TIME_SCALE, RequestCounts, Run, Sample, challenge_mean_wait};
use crate::sizes::SizeReport;
use crate::stats::{Summary, human};

/// The cold-start budget: each function at most this many times hello-world.
pub const COLD_START_BUDGET: f64 = 1.5;
/// The package budget, per zip.
pub const ZIP_BUDGET_BYTES: u64 = 4_000_000;
/// `make bench` on a fresh machine.
const RUN_TIME_BUDGET: Duration = Duration::from_secs(15 * 60);
/// What the API invocation of a lone transaction is assumed to last (no latency was measured).
const SINGLE_TX_API_SECONDS: f64 = 0.05;
const HELLO: &str = "hello-lambda";
const TEMPLATE: &str = include_str!("../templates/benchmarks.md.j2");

/// A phase's result.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Skipped,
    Failed(String),
    Done(T),
}

impl<T> Outcome<T> {
    pub fn done(&self) -> Option<&T> {
        match self {
            Outcome::Done(t) => Some(t),
            _ => None,
        }
    }

    /// The page's section for this phase: `view` of its result, or why there is none.
    fn part<'a, V>(&'a self, view: impl FnOnce(&'a T) -> V) -> Part<V> {
        let note = match self {
            Outcome::Skipped => Some("skipped in this run".into()),
            Outcome::Failed(e) => Some(format!("failed: {e}")),
            Outcome::Done(_) => None,
        };
        Part {
            note,
            done: self.done().map(view),
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
#[derive(Debug, Clone)]
pub struct Results {
    pub machine: Machine,
    pub timings: Timings,
    pub cold_starts: Outcome<ColdStartReport>,
    pub sizes: Outcome<SizeReport>,
    pub handlers: Vec<HandlerCost>,
    pub counts: Outcome<RequestCounts>,
    pub ceiling: Outcome<Ceiling>,
    pub end_to_end: Outcome<Run>,
    pub challenge: Outcome<Run>,
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
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

fn median(samples: &[Duration]) -> Option<Duration> {
    Summary::of(samples).map(|s| s.p50)
}

fn range(values: &[Duration]) -> String {
    let (lo, hi) = (values.iter().min(), values.iter().max());
    lo.zip(hi)
        .map_or("—".into(), |(lo, hi)| format!("{}–{}", ms(*lo), ms(*hi)))
}

/// Requests of one `(service, operation)`.
fn count(counts: &Counts, service: &str, operation: &str) -> f64 {
    let key = (service.to_owned(), operation.to_owned());
    counts.get(&key).copied().unwrap_or(0) as f64
}

fn transactions(sample: &Sample) -> f64 {
    sample.transactions.max(1) as f64
}

/// "16 (DynamoDB 9, KMS 1, SNS 1, SQS 5)": a lone transaction's requests, by service.
fn services_line(sample: &Sample) -> String {
    let all = sample.all_requests();
    let services: BTreeSet<&str> = all.keys().map(|(s, _)| s.as_str()).collect();
    let parts: Vec<String> = services
        .iter()
        .map(|s| format!("{s} {}", per_tx(service_total(&all, s) as f64)))
        .collect();
    format!(
        "{} ({})",
        per_tx(all.values().sum::<u64>() as f64),
        parts.join(", ")
    )
}

fn handler_seconds_per_tx(sample: &Sample) -> f64 {
    sample.handler_time().as_secs_f64() / transactions(sample)
}

/// A sample's bill per million transactions; `api_seconds` is the API function's duration per
/// request, and the API answers each POST in one invocation.
fn bill(sample: &Sample, item_bytes: usize, api_seconds: f64) -> Bill {
    let consumers = sample
        .consumers
        .iter()
        .filter(|(f, _)| **f != Role::Sweeper);
    let invocations: u64 = consumers.map(|(_, m)| m.invocations).sum();
    cost::per_million(
        &per_transaction(&sample.all_requests(), sample.transactions),
        1.0 + invocations as f64 / transactions(sample),
        handler_seconds_per_tx(sample) + api_seconds,
        item_bytes,
    )
}

/// The bill of a run, its median POST latency standing for the API function's duration.
fn run_bill(run: &Run, item_bytes: usize) -> Bill {
    let api = median(&run.submitted.latencies).map_or(SINGLE_TX_API_SECONDS, |d| d.as_secs_f64());
    bill(&run.sample, item_bytes, api)
}

/// A section of the page: the view of a phase's result, or the note of why there is none.
#[derive(Serialize)]
struct Part<V> {
    note: Option<String>,
    done: Option<V>,
}

/// What the template is given; numbers come formatted.
#[derive(Serialize)]
struct Page<'a> {
    machine: MachineView<'a>,
    times: Times,
    budget: f64,
    cold: Part<ColdStart>,
    sizes: Part<Sizes>,
    handlers: Vec<Handler>,
    requests: Part<Requests>,
    end_to_end: Part<EndToEnd>,
    challenge: Part<Challenge<'a>>,
}

#[derive(Serialize)]
struct MachineView<'a> {
    commit: &'a str,
    cores: usize,
    cpu: &'a str,
    memory: String,
    kernel: &'a str,
    rustc: &'a str,
    cargo_lambda: &'a str,
    ministack: &'a str,
    anvil: &'a str,
}

/// §0. `verdict` is `cached`, `within` or `over` the budget; none when the total is unknown.
#[derive(Serialize)]
struct Times {
    tools: String,
    build: String,
    criterion: String,
    harness: String,
    total: String,
    measurements: String,
    verdict: Option<&'static str>,
    cpu: Option<CpuTime>,
    tools_installed: bool,
}

/// The build's CPU time spread over the cores: how short the build could have been.
#[derive(Serialize)]
struct CpuTime {
    total: String,
    floor: String,
    rest: String,
    least: String,
    busy: String,
}

#[derive(Serialize)]
struct ColdStart {
    binaries: Vec<Binary>,
    hello: String,
    bare: String,
    hello_bare: String,
    binary_sizes: Option<String>,
    init: String,
    hello_init: String,
    within_budget: bool,
    connections: u64,
    other_calls: String,
}

#[derive(Serialize)]
struct Binary {
    name: String,
    hello: bool,
    runs: usize,
    min: String,
    median: String,
    p90: String,
    max: String,
    ratio: String,
    verdict: String,
    bare: String,
    init: String,
}

#[derive(Serialize)]
struct Sizes {
    arch: String,
    packages: Vec<Package>,
    hello_zip: String,
    arm64: bool,
    targets: String,
    sections: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Package {
    name: String,
    hello: bool,
    zip: String,
    binary: String,
    over: String,
    within: Option<bool>,
}

#[derive(Serialize)]
struct Handler {
    id: &'static str,
    what: &'static str,
    runs_in: &'static str,
    median: Option<String>,
    allocations: Option<String>,
    bytes: Option<String>,
}

#[derive(Serialize)]
struct Requests {
    happy_services: String,
    retry_services: String,
    single_bill: String,
    load_bill: Option<String>,
    retry_events: usize,
    columns: Vec<&'static str>,
    counts: Vec<Vec<String>>,
    totals: Vec<String>,
    sweep_total: u64,
    sweep: String,
    sweep_monthly: String,
    item_bytes: usize,
    wru_update: String,
    wru_transact: String,
    rru_get: String,
    bill_columns: Vec<&'static str>,
    bills: Vec<Vec<String>>,
    bill_totals: Vec<String>,
    prices: Vec<[String; 3]>,
    batching: Batching,
}

/// What batch APIs would save, per million transactions at load.
#[derive(Serialize)]
struct Batching {
    signer: String,
    broadcaster: String,
    bill: String,
    send: String,
    send_saving: String,
    visibility_retry: String,
    visibility_load: String,
    visibility_saving: String,
    gets_lone: String,
    gets_load: String,
    notifier: String,
    notifier_saving: String,
    /// More nonce-counter writes at load than alone: lost races for the counter.
    nonce_races: bool,
    writes_lone: String,
    writes_load: String,
}

#[derive(Serialize)]
struct EndToEnd {
    transactions: u64,
    concurrency: usize,
    answered: usize,
    first_error: Option<String>,
    posts_after: String,
    posts_rate: String,
    confirmed: u64,
    failed: u64,
    timed_out: bool,
    elapsed: String,
    throughput: String,
    latency: Option<Latency>,
    handler_seconds: String,
    ceiling: Part<CeilingView>,
    fit: Option<CeilingFit>,
}

#[derive(Serialize)]
struct Latency {
    p50: String,
    p95: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct CeilingView {
    workers: usize,
    rates: Vec<[String; 5]>,
}

/// The end-to-end run against the emulator's ceiling for its request mix.
#[derive(Serialize)]
struct CeilingFit {
    requests: String,
    emulator_ms: String,
    ceiling: String,
    share: String,
}

#[derive(Serialize)]
struct Challenge<'a> {
    transactions: u64,
    concurrency: usize,
    scale: f64,
    confirmed: u64,
    failed: u64,
    timed_out: bool,
    all_confirmed: bool,
    elapsed: String,
    posts_after: String,
    retries: u64,
    tally: Option<Tally>,
    visibility: String,
    node: &'a ProxyStats,
    rpc_errors: u64,
    functions: Vec<[String; 6]>,
    measured: String,
    projection: Option<Projection>,
}

#[derive(Serialize)]
struct Tally {
    retried: u64,
    events: String,
    gapless: bool,
}

/// Handler-seconds per transaction at full scale, and the terms of the estimate.
#[derive(Serialize)]
struct Projection {
    aws: String,
    calls: String,
    mean_wait: String,
    sequential: String,
    per_invocation: String,
    billed: String,
    one_by_one: String,
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

    fn context(&self) -> Page<'_> {
        let m = &self.machine;
        Page {
            machine: MachineView {
                commit: &m.commit,
                cores: m.cores,
                cpu: &m.cpu_model,
                memory: format!("{:.1} GiB", m.memory_gib),
                kernel: &m.kernel,
                rustc: &m.rustc,
                cargo_lambda: &m.cargo_lambda,
                ministack: &m.ministack,
                anvil: &m.anvil,
            },
            times: self.times(),
            budget: COLD_START_BUDGET,
            cold: self.cold_starts.part(|report| self.cold_start(report)),
            sizes: self.sizes.part(|sizes| self.package_sizes(sizes)),
            handlers: self.handlers.iter().map(handler).collect(),
            requests: self.counts.part(|counts| self.requests(counts)),
            end_to_end: self.end_to_end.part(|run| self.end_to_end(run)),
            challenge: self.challenge.part(|run| self.challenge(run)),
        }
    }

    /// §0: `make bench` from its start to the end of the measurements.
    fn times(&self) -> Times {
        let t = &self.timings;
        let total = t.before_harness.map(|b| b + t.harness);
        let measurements = t.harness + t.criterion.unwrap_or_default();
        let cores = self.machine.cores.max(1);
        let cpu = t
            .build_cpu
            .zip(t.build)
            .zip(total)
            .map(|((cpu, build), total)| {
                let (floor, rest) = (cpu / cores as u32, total.saturating_sub(build));
                let busy = cpu.as_secs_f64() / (build.as_secs_f64() * cores as f64).max(1e-9);
                CpuTime {
                    total: human(cpu),
                    floor: human(floor),
                    rest: human(rest),
                    least: human(floor + rest),
                    busy: format!("{:.0}%", 100.0 * busy),
                }
            });
        Times {
            tools: or_dash(t.tools, human),
            build: or_dash(t.build, human),
            criterion: or_dash(t.criterion, human),
            harness: human(t.harness),
            total: or_dash(total, human),
            measurements: human(measurements),
            // A build that reused an earlier release build says nothing of a fresh machine's.
            verdict: total.map(|total| match (t.build_fresh, total <= RUN_TIME_BUDGET) {
                (false, _) => "cached",
                (true, true) => "within",
                (true, false) => "over",
            }),
            cpu,
            tools_installed: t.tools.is_some_and(|t| t < Duration::from_secs(5)),
        }
    }

    /// §1: each binary beside hello-world, and its start split into bare start and init work.
    fn cold_start(&self, report: &ColdStartReport) -> ColdStart {
        let of = |name: &str| report.binaries.iter().find(|b| b.name == name);
        let hello = of(HELLO).and_then(|b| median(&b.samples));
        let hello_bare = of(HELLO).and_then(|b| median(&b.bare));
        let hello_init = hello.zip(hello_bare).map(|(m, b)| m.saturating_sub(b));
        let (mut binaries, mut bares, mut inits) = (Vec::new(), Vec::new(), Vec::new());
        let mut within_budget = true;
        for b in &report.binaries {
            let Some(s) = Summary::of(&b.samples) else {
                continue;
            };
            let ratio = hello.map(|h| s.p50.as_secs_f64() / h.as_secs_f64().max(1e-9));
            let bare = median(&b.bare);
            let init = bare.map(|bare| s.p50.saturating_sub(bare));
            if b.name != HELLO {
                bares.extend(bare);
                inits.extend(init);
                within_budget &= ratio.is_some_and(|r| r <= COLD_START_BUDGET);
            }
            let mark = |r: f64| if r <= COLD_START_BUDGET { "✅" } else { "❌" };
            binaries.push(Binary {
                name: b.name.clone(),
                hello: b.name == HELLO,
                runs: s.count,
                min: or_dash(b.samples.iter().min().copied(), ms),
                median: ms(s.p50),
                p90: ms(s.p90),
                max: ms(s.max),
                ratio: or_dash(ratio, |r| format!("{r:.2}×")),
                verdict: or_dash(ratio, |r| format!("{} {r:.2}×", mark(r))),
                bare: or_dash(bare, ms),
                init: or_dash(init, ms),
            });
        }
        ColdStart {
            binaries,
            hello: or_dash(hello, ms),
            bare: range(&bares),
            hello_bare: or_dash(hello_bare, ms),
            binary_sizes: self.binary_sizes(),
            init: range(&inits),
            hello_init: or_dash(hello_init, ms),
            within_budget,
            connections: report.init_connections,
            other_calls: report.other_calls.join(", "),
        }
    }

    /// "4.47–6.25 MB binaries, hello-world 0.97 MB", from this run's sizes.
    fn binary_sizes(&self) -> Option<String> {
        let packages = &self.sizes.done()?.packages;
        let hello = packages.iter().find(|p| p.name == HELLO)?.binary_bytes?;
        let functions = packages.iter().filter(|p| p.name != HELLO);
        let bytes: Vec<u64> = functions.filter_map(|p| p.binary_bytes).collect();
        let (lo, hi) = (*bytes.iter().min()?, *bytes.iter().max()?);
        Some(format!(
            "{}–{} binaries, hello-world {}",
            mb(lo),
            mb(hi),
            mb(hello)
        ))
    }

    /// §2.
    fn package_sizes(&self, sizes: &SizeReport) -> Sizes {
        let hello = sizes.packages.iter().find(|p| p.name == HELLO);
        let packages = sizes.packages.iter().map(|p| {
            let over = p.binary_bytes.zip(hello.and_then(|h| h.binary_bytes));
            Package {
                name: p.name.clone(),
                hello: p.name == HELLO,
                zip: p.zip_bytes.map_or("not built".into(), mb),
                binary: or_dash(p.binary_bytes, mb),
                over: or_dash(over.filter(|_| p.name != HELLO), |(b, h)| {
                    format!("+{}", mb(b.saturating_sub(h)))
                }),
                within: p.zip_bytes.map(|z| z <= ZIP_BUDGET_BYTES),
            }
        });
        let sections = sizes.sections.iter().map(|(binary, sections)| {
            let total = sections.iter().map(|s| s.bytes).sum::<u64>().max(1) as f64;
            let share = |bytes: u64| 100.0 * bytes as f64 / total;
            let parts = sections
                .iter()
                .take(6)
                .map(|s| format!("`{}` {} ({:.0}%)", s.name, mb(s.bytes), share(s.bytes)));
            (binary.clone(), parts.collect::<Vec<_>>().join(", "))
        });
        Sizes {
            arch: sizes.built_for.clone(),
            packages: packages.collect(),
            hello_zip: or_dash(hello.and_then(|h| h.zip_bytes), mb),
            arm64: sizes.has_target("aarch64-unknown-linux-gnu"),
            targets: sizes.installed_targets.join("`, `"),
            sections: sections.collect(),
        }
    }

    /// §4: requests per transaction by who made them, their bill, and what batching would save.
    fn requests(&self, c: &RequestCounts) -> Requests {
        let (e2e, challenge) = (self.end_to_end.done(), self.challenge.done());
        let mut samples = vec![
            ("first tx (cold)", &c.first),
            ("happy path", &c.happy),
            ("one retry", &c.one_retry),
        ];
        samples.extend(e2e.map(|r| ("at load (e2e)", &r.sample)));
        samples.extend(challenge.map(|r| ("challenge", &r.sample)));
        type CountsOf = fn(&Sample) -> Counts;
        let sources: [(&str, CountsOf); 3] = [
            ("functions", |s| s.functions.clone()),
            ("notifier", |s| s.notifier.clone()),
            ("event source mapping", Sample::mapping_requests),
        ];
        let mut counts: Vec<Vec<String>> = Vec::new();
        for (source, counts_of) in sources {
            let by_sample: Vec<(Counts, f64)> = samples
                .iter()
                .map(|(_, s)| (counts_of(s), transactions(s)))
                .collect();
            let operations: BTreeSet<&(String, String)> =
                by_sample.iter().flat_map(|(c, _)| c.keys()).collect();
            for (service, op) in operations {
                let mut row = vec![source.to_owned(), service.clone(), op.clone()];
                row.extend(
                    by_sample
                        .iter()
                        .map(|(c, n)| per_tx(count(c, service, op) / n)),
                );
                counts.push(row);
            }
        }
        let mut bills = vec![
            (
                "happy path (single tx)",
                bill(&c.happy, c.item_bytes, SINGLE_TX_API_SECONDS),
            ),
            (
                "one retry (single tx)",
                bill(&c.one_retry, c.item_bytes, SINGLE_TX_API_SECONDS),
            ),
        ];
        bills.extend(e2e.map(|r| ("at load (e2e)", run_bill(r, c.item_bytes))));
        bills.extend(challenge.map(|r| ("challenge node (scaled)", run_bill(r, c.item_bytes))));
        let services: BTreeSet<&str> = bills
            .iter()
            .flat_map(|(_, b)| b.by_service.keys().copied())
            .collect();
        let bill_rows = services.into_iter().map(|service| {
            let cost = |b: &Bill| dollars(b.by_service.get(service).copied().unwrap_or(0.0));
            std::iter::once(service.to_owned())
                .chain(bills.iter().map(|(_, b)| cost(b)))
                .collect()
        });
        let sweep_total: u64 = c.sweep.values().sum();
        let sweep: Vec<String> = c
            .sweep
            .iter()
            .map(|((s, o), n)| format!("{s} {o} {n}"))
            .collect();
        let units = |op: &str| cost::dynamodb_units(op, c.item_bytes);
        let price = |p: &cost::Price| match p.dollars {
            0.0 => "free".to_owned(),
            x => format!("${x} per {}", p.per),
        };
        Requests {
            happy_services: services_line(&c.happy),
            retry_services: services_line(&c.one_retry),
            single_bill: dollars(bills[0].1.total()),
            load_bill: e2e.map(|r| dollars(run_bill(r, c.item_bytes).total())),
            retry_events: c.retry_events,
            columns: samples.iter().map(|(name, _)| *name).collect(),
            totals: samples
                .iter()
                .map(|(_, s)| {
                    per_tx(s.all_requests().values().sum::<u64>() as f64 / transactions(s))
                })
                .collect(),
            counts,
            sweep_total,
            sweep: sweep.join(", "),
            sweep_monthly: format!("{:.0}", sweep_total as f64 * 60.0 * 24.0 * 30.0),
            item_bytes: c.item_bytes,
            wru_update: per_tx(units("UpdateItem").0),
            wru_transact: per_tx(units("TransactWriteItems").0),
            rru_get: per_tx(units("GetItem").1),
            bill_columns: bills.iter().map(|(name, _)| *name).collect(),
            bills: bill_rows.collect(),
            bill_totals: bills.iter().map(|(_, b)| dollars(b.total())).collect(),
            prices: cost::PRICES
                .iter()
                .map(|p| [p.service.into(), p.what.into(), price(p)])
                .collect(),
            batching: self.batching(c),
        }
    }

    /// What the batch APIs would save, priced per million transactions at load.
    fn batching(&self, c: &RequestCounts) -> Batching {
        let e2e = self.end_to_end.done();
        let sample = e2e.map_or(&c.happy, |r| &r.sample);
        let records_per_invocation = |f: Role| match sample.consumers.get(&f) {
            Some(m) if m.invocations > 0 => m.records as f64 / m.invocations as f64,
            _ => 1.0,
        };
        let signer = records_per_invocation(Role::Signer);
        let load =
            |service: &str, op: &str| count(&sample.functions, service, op) / transactions(sample);
        let lone = |op: &str| count(&c.happy.functions, "DynamoDB", op);
        let send = load("SQS", "SendMessage");
        let notifier = service_total(&sample.notifier, "DynamoDB") as f64 / transactions(sample);
        let bill = e2e.map_or_else(
            || bill(&c.happy, c.item_bytes, SINGLE_TX_API_SECONDS),
            |r| run_bill(r, c.item_bytes),
        );
        Batching {
            signer: format!("{signer:.1}"),
            broadcaster: format!("{:.1}", records_per_invocation(Role::Broadcaster)),
            bill: dollars(bill.total()),
            send: per_tx(send),
            // One batch per invocation instead of one request per record.
            send_saving: dollars(send * (1.0 - 1.0 / signer.max(1.0)) * cost::SQS_PER_MILLION),
            visibility_retry: per_tx(count(
                &c.one_retry.functions,
                "SQS",
                "ChangeMessageVisibility",
            )),
            visibility_load: per_tx(load("SQS", "ChangeMessageVisibility")),
            visibility_saving: dollars(cost::SQS_PER_MILLION),
            gets_lone: per_tx(lone("GetItem")),
            gets_load: per_tx(load("DynamoDB", "GetItem")),
            notifier: per_tx(notifier),
            notifier_saving: dollars(notifier * cost::DYNAMODB_RRU_PER_MILLION),
            nonce_races: load("DynamoDB", "TransactWriteItems") > lone("TransactWriteItems") + 0.5,
            writes_lone: per_tx(lone("TransactWriteItems")),
            writes_load: per_tx(load("DynamoDB", "TransactWriteItems")),
        }
    }

    /// §5, beside the emulator's ceiling measured in the same run.
    fn end_to_end(&self, r: &Run) -> EndToEnd {
        let all_requests = per_transaction(&r.sample.all_requests(), r.sample.transactions);
        let seconds = self
            .ceiling
            .done()
            .map(|c| c.seconds_per_transaction(&all_requests));
        let (answered, posting) = (r.submitted.ids.len(), r.submitted.elapsed.as_secs_f64());
        EndToEnd {
            transactions: r.transactions,
            concurrency: r.concurrency,
            answered,
            first_error: r.submitted.first_error.clone(),
            posts_after: human(r.submitted.elapsed),
            posts_rate: format!("{:.1}", answered as f64 / posting.max(1e-9)),
            confirmed: r.finished.confirmed,
            failed: r.finished.failed,
            timed_out: r.finished.timed_out,
            elapsed: human(r.finished.elapsed),
            throughput: format!("{:.1}", r.throughput()),
            latency: Summary::of(&r.submitted.latencies).map(|l| Latency {
                p50: ms(l.p50),
                p95: ms(l.p95),
                p99: ms(l.p99),
                max: ms(l.max),
            }),
            handler_seconds: format!("{:.3}", handler_seconds_per_tx(&r.sample)),
            ceiling: self.ceiling.part(|c| CeilingView {
                workers: c.workers,
                rates: c
                    .rates
                    .iter()
                    .map(|rate| {
                        let items = rate.items as f64 / rate.requests.max(1) as f64;
                        let (requests, per_second) = (
                            rate.requests.to_string(),
                            format!("{:.0}", rate.per_second()),
                        );
                        [
                            rate.service.into(),
                            rate.operation.into(),
                            requests,
                            per_second,
                            format!("{items:.1}"),
                        ]
                    })
                    .collect(),
            }),
            fit: seconds.filter(|s| *s > 0.0).map(|seconds| CeilingFit {
                requests: per_tx(all_requests.values().sum()),
                emulator_ms: format!("{:.1}", seconds * 1e3),
                ceiling: format!("{:.1}", 1.0 / seconds),
                share: format!("{:.0}%", 100.0 * r.throughput() * seconds),
            }),
        }
    }

    /// §6.
    fn challenge<'a>(&self, r: &'a Run) -> Challenge<'a> {
        let f = &r.finished;
        let functions = r.sample.consumers.iter().map(|(role, m)| {
            let records = match m.records {
                0 => "—".to_owned(),
                n => format!("{:.1}", n as f64 / m.invocations.max(1) as f64),
            };
            let per = format!(
                "{:.3} s",
                m.handler_time.as_secs_f64() / transactions(&r.sample)
            );
            let (invocations, failed) = (m.invocations.to_string(), m.failed_records.to_string());
            [
                role.name().into(),
                invocations,
                records,
                failed,
                human(m.handler_time),
                per,
            ]
        });
        Challenge {
            transactions: r.transactions,
            concurrency: r.concurrency,
            scale: CHALLENGE_TIME_SCALE,
            confirmed: f.confirmed,
            failed: f.failed,
            timed_out: f.timed_out,
            all_confirmed: f.confirmed == r.transactions && !f.timed_out,
            elapsed: human(f.elapsed),
            posts_after: human(r.submitted.elapsed),
            retries: r
                .tally
                .as_ref()
                .and_then(|t| t.events.get("retry").copied())
                .unwrap_or(0),
            tally: r.tally.as_ref().map(|t| Tally {
                retried: t.retried_transactions,
                events: t
                    .events
                    .iter()
                    .map(|(e, n)| format!("{e} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                gapless: t.nonces_distinct_and_gapless,
            }),
            visibility: count(&r.sample.functions, "SQS", "ChangeMessageVisibility").to_string(),
            node: &r.proxy,
            rpc_errors: r.proxy.faults.rpc_errors(),
            functions: functions.collect(),
            measured: format!("{:.3}", handler_seconds_per_tx(&r.sample)),
            projection: self.projected_handler_seconds(r),
        }
    }

    /// Handler-seconds per transaction at full scale: the zero-latency run's handler time (the
    /// AWS round trips and CPU), plus the node calls each transaction made here at the
    /// preset's full-scale mean wait, shared by the records of an invocation (they run
    /// concurrently, so an invocation lasts about as long as one record's calls).
    fn projected_handler_seconds(&self, challenge: &Run) -> Option<Projection> {
        let aws = handler_seconds_per_tx(&self.end_to_end.done()?.sample);
        let calls = challenge.proxy.requests as f64 / transactions(&challenge.sample);
        let mean_wait = challenge_mean_wait().as_secs_f64();
        let sequential = calls * mean_wait;
        let consumers = challenge.sample.consumers.iter();
        let signer_and_broadcaster =
            consumers.filter(|(f, _)| matches!(f, Role::Signer | Role::Broadcaster));
        let (records, invocations) = signer_and_broadcaster
            .fold((0, 0), |(r, i), (_, m)| (r + m.records, i + m.invocations));
        let per_invocation = (records as f64 / invocations.max(1) as f64).max(1.0);
        Some(Projection {
            aws: format!("{aws:.3}"),
            calls: per_tx(calls),
            mean_wait: format!("{mean_wait:.1}"),
            sequential: format!("{sequential:.0}"),
            per_invocation: format!("{per_invocation:.1}"),
            billed: format!("{:.1}", aws + sequential / per_invocation),
            one_by_one: format!("{:.0}", aws + sequential),
        })
    }
}

fn handler(h: &HandlerCost) -> Handler {
    let (what, runs_in, allocations) = (h.what, h.runs_in, h.allocations);
    Handler {
        id: h.id,
        what,
        runs_in,
        median: h
            .median_ns
            .map(|ns| human(Duration::from_nanos(ns.round() as u64))),
        allocations: allocations.map(|a| format!("{:.0}", a.allocations)),
        bytes: allocations.map(|a| format!("{:.0}", a.bytes)),
    }
}

/// Renders the page, or only its `block`. Undefined names are errors, so a name the template
/// uses and the context lacks fails here (and in the test below), not as a blank on the page.
fn render(page: &Page<'_>, block: Option<&str>) -> Result<String, BenchError> {
    let failed =
        |e: minijinja::Error| BenchError::Failed(format!("rendering docs/benchmarks.md: {e}"));
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(failed)?,
    );
    env.add_template("benchmarks.md.j2", TEMPLATE)
        .map_err(failed)?;
    let template = env.get_template("benchmarks.md.j2").map_err(failed)?;
    match block {
        None => template.render(Serde(page)).map_err(failed),
        Some(block) => {
            let mut rendered = template.render_captured(Serde(page)).map_err(failed)?;
            rendered
                .with_state_mut(|state| state.render_block(block))
                .map_err(failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceiling::OpRate;
    use crate::coldstart::ColdStarts;
    use crate::pipeline::HistoryTally;
    use crate::sizes::{Package, Section};

    const HEADER: &str = "| Measure | Result | Beside it (same run) | Budget | Verdict |";
    const METHOD: &str = "[docs/benchmarking.md](benchmarking.md)";

    /// Every phase done, with a little of everything, so each branch of the template runs.
    fn done() -> Results {
        let ms = Duration::from_millis;
        let starts = |name: &str, start| ColdStarts {
            name: name.into(),
            samples: vec![ms(start)],
            bare: vec![ms(1)],
        };
        let mut run = Run {
            transactions: 1,
            tally: Some(HistoryTally::default()),
            ..Run::default()
        };
        run.sample
            .functions
            .insert(("SQS".into(), "SendMessage".into()), 1);
        run.sample
            .consumers
            .insert(Role::Signer, Default::default());
        run.submitted.latencies.push(ms(30));
        let package = |name: &str| Package {
            name: name.into(),
            zip_bytes: Some(2_000_000),
            binary_bytes: Some(5_000_000),
        };
        let section = Section {
            name: ".text".into(),
            bytes: 1,
        };
        let rate = OpRate {
            service: "SQS",
            operation: "SendMessage",
            requests: 10,
            items: 10,
            elapsed: ms(5),
        };
        Results {
            machine: Machine::default(),
            timings: Timings {
                before_harness: Some(ms(1)),
                ..Timings::default()
            },
            cold_starts: Outcome::Done(ColdStartReport {
                binaries: vec![starts("api", 3), starts(HELLO, 2)],
                ..ColdStartReport::default()
            }),
            sizes: Outcome::Done(SizeReport {
                packages: vec![package("api"), package(HELLO)],
                sections: vec![("api".into(), vec![section])],
                ..SizeReport::default()
            }),
            handlers: crate::handlers::read(std::path::Path::new("no criterion here")),
            counts: Outcome::Done(RequestCounts {
                happy: run.sample.clone(),
                ..RequestCounts::default()
            }),
            ceiling: Outcome::Done(Ceiling {
                workers: 16,
                rates: vec![rate],
            }),
            end_to_end: Outcome::Done(run.clone()),
            challenge: Outcome::Done(run),
        }
    }

    fn render_both(results: &Results) -> (String, String) {
        let page = results.page().unwrap_or_else(|e| panic!("{e}"));
        assert!(page.contains(HEADER) && page.contains(METHOD), "{page}");
        assert!(!page.contains("\n\n\n"), "stray blank lines in:\n{page}");
        let table = results.table();
        assert!(
            table.starts_with(HEADER) && page.contains(&table),
            "{table}"
        );
        (page, table)
    }

    #[test]
    fn a_run_with_every_phase_done_renders_every_section() {
        let (page, table) = render_both(&done());
        for expected in [
            "| 1. cold start: api | 3.0 ms median, 3.0 ms p90 | hello-world 2.0 ms median |",
            "| 2. zip: api | 2.00 MB  zip (5.00 MB binary) |",
            "| 5. end to end, zero-latency node |",
            "at most **2000.0 tx/s**",
            "| nonces distinct and gap-free | **no** |",
            "≈ **",
        ] {
            assert!(
                page.contains(expected),
                "{expected:?} missing from:\n{page}"
            );
        }
        assert_eq!(table.lines().count(), 2 + 2 + 1 + 11 + 3 + 2 + 2, "{table}");
    }

    #[test]
    fn a_run_with_failed_phases_renders_their_notes() {
        let results = Results {
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
            sizes: Outcome::Skipped,
            handlers: Vec::new(),
            counts: Outcome::Skipped,
            ceiling: Outcome::Skipped,
            end_to_end: Outcome::Skipped,
            challenge: Outcome::Failed("timed out".into()),
        };
        let (page, _) = render_both(&results);
        for expected in [
            "| `make bench` run time | 18 min 17 s (build 85.0 s, measurements 97.0 s) |",
            "the build used 2 min 40 s of CPU time, so on 2 cores at least 80.0 s",
            "| 1. cold start | failed: hello-lambda exited during init |",
            "## 2. Package size\n\nskipped in this run\n",
            "## 6. The challenge's node\n\nfailed: timed out\n",
        ] {
            assert!(
                page.contains(expected),
                "{expected:?} missing from:\n{page}"
            );
        }
    }
}
