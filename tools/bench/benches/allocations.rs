//! Allocations per call of the pure paths, counted by a wrapping global allocator, written
//! beside criterion's estimates for the report. Kept out of the timing bench: counting costs
//! a few atomic operations per allocation.

use std::alloc::System;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use bench::handlers::{ALLOCATIONS_FILE, Allocations, BENCHES};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

mod common;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ITERATIONS: usize = 10_000;

fn main() {
    let inputs = match common::Inputs::new() {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("benchmark inputs: {e}");
            std::process::exit(1);
        }
    };
    // `cargo test --benches` (and `make test`) runs bench targets without `--bench`: then
    // check that every path runs, and write nothing.
    if !std::env::args().any(|a| a == "--bench") {
        for (id, _, _) in BENCHES {
            if common::run(id, &inputs) == 0 {
                eprintln!("benchmark {id} does not run its path (check its input)");
                std::process::exit(1);
            }
        }
        println!("{} allocation benchmarks run once: ok", BENCHES.len());
        return;
    }
    let mut counts = BTreeMap::new();
    for (id, _, _) in BENCHES {
        // Warm once: lazy statics (e.g. parsed type tables) are not the call's cost.
        black_box(common::run(id, &inputs));
        let region = Region::new(GLOBAL);
        for _ in 0..ITERATIONS {
            black_box(common::run(black_box(id), black_box(&inputs)));
        }
        let stats = region.change();
        let per_call = Allocations {
            allocations: (stats.allocations + stats.reallocations) as f64 / ITERATIONS as f64,
            bytes: stats.bytes_allocated as f64 / ITERATIONS as f64,
        };
        println!(
            "{id:<24} {:>8.1} allocations {:>10.0} bytes per call",
            per_call.allocations, per_call.bytes
        );
        counts.insert(id.to_owned(), per_call);
    }
    let dir = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion")
        });
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        std::fs::write(
            dir.join(ALLOCATIONS_FILE),
            serde_json::to_string_pretty(&counts).unwrap_or_default(),
        )
    });
    if let Err(e) = written {
        eprintln!("writing {}: {e}", dir.join(ALLOCATIONS_FILE).display());
        std::process::exit(1);
    }
}
