//! Time per call of the pure paths (see `bench::handlers::BENCHES`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

mod common;

fn handlers(c: &mut Criterion) {
    let inputs = match common::Inputs::new() {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("benchmark inputs: {e}");
            std::process::exit(1);
        }
    };
    let mut group = c.benchmark_group(bench::handlers::GROUP);
    for (id, _, _) in bench::handlers::BENCHES {
        if common::run(id, &inputs) == 0 {
            eprintln!("benchmark {id} does not run its path (check its input)");
            std::process::exit(1);
        }
        group.bench_function(id, |b| {
            b.iter(|| common::run(black_box(id), black_box(&inputs)))
        });
    }
    group.finish();
}

criterion_group!(benches, handlers);
criterion_main!(benches);
