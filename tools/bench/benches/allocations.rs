//! Allocations per call of the pure paths, counted by a wrapping global allocator, written
//! beside criterion's estimates for the report. Kept out of the timing bench: counting costs
//! a few atomic operations per allocation.

use std::alloc::System;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use bench::handlers::{ALLOCATIONS_FILE, Allocations, paths};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ITERATIONS: usize = 10_000;

fn main() {
    // `cargo test --benches` (and `make test`) runs bench targets without `--bench`; the unit
    // tests check that every path runs.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let paths = paths().unwrap_or_else(|e| panic!("benchmark inputs: {e}"));
    let mut counts = BTreeMap::new();
    for (id, iteration) in &paths {
        // Warm once: lazy statics (e.g. parsed type tables) are not the call's cost.
        black_box(iteration());
        let region = Region::new(GLOBAL);
        for _ in 0..ITERATIONS {
            black_box(iteration());
        }
        let stats = region.change();
        let per_call = Allocations {
            allocations: (stats.allocations + stats.reallocations) as f64 / ITERATIONS as f64,
            bytes: stats.bytes_allocated as f64 / ITERATIONS as f64,
        };
        counts.insert(id, per_call);
    }
    let dir = std::env::var_os("CRITERION_HOME").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion"),
        PathBuf::from,
    );
    let file = dir.join(ALLOCATIONS_FILE);
    let json = serde_json::to_string_pretty(&counts).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, json)) {
        panic!("writing {}: {e}", file.display());
    }
}
