//! Time per call of the pure paths (see `bench::handlers::paths`).

use bench::handlers::{GROUP, paths};
use criterion::{Criterion, criterion_group, criterion_main};

fn handlers(c: &mut Criterion) {
    let paths = paths().unwrap_or_else(|e| panic!("benchmark inputs: {e}"));
    let mut group = c.benchmark_group(GROUP);
    for (id, iteration) in &paths {
        group.bench_function(*id, |b| b.iter(iteration));
    }
    group.finish();
}

criterion_group!(benches, handlers);
criterion_main!(benches);
