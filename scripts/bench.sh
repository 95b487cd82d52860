#!/usr/bin/env bash
# `make bench`: builds what it measures, starts a stack of its own (MiniStack and anvil on the
# bench ports, 4598 and 8598), runs the criterion benchmarks and the harness (tools/bench),
# prints one table, writes docs/benchmarks.md, and stops the stack, even on failure or Ctrl-C.
#
#   1. cargo-lambda, pinned, into .tools/ (the build needs it), while cargo fetches the crates
#   2. one `cargo lambda build --release --output-format zip` of every function, the hello-world
#      reference, the harness and the criterion benchmarks (the functions' dependencies are built
#      exactly as `make build-lambdas` builds them: tools/workspace-hack); MiniStack and anvil
#      install beside it
#   3. criterion, then the harness
#
# Extra arguments go to the harness (e.g. `--transactions 200 --only e2e`; see
# tools/bench/src/main.rs). BENCH_LAMBDA_ARCH=--arm64|--x86-64 picks the zips' CPU; the default
# is arm64 (as deployed) when the aarch64-unknown-linux-gnu target is installed, else this
# machine's. Zips for another CPU than this machine's come from a second build (everything
# that runs here, the functions' cold starts included, is built for this machine).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_EMULATOR_PORT=${BENCH_EMULATOR_PORT:-4598}
BENCH_ANVIL_PORT=${BENCH_ANVIL_PORT:-8598}
export BENCH_EMULATOR_PORT BENCH_ANVIL_PORT
# Every crate under functions/ is a function.
FUNCTIONS=()
for manifest in functions/*/Cargo.toml; do FUNCTIONS+=("$(basename "$(dirname "$manifest")")"); done

log() { printf '[bench] %s\n' "$*" >&2; }
begin=$EPOCHREALTIME
# Seconds since $1 (an $EPOCHREALTIME), with millisecond precision.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
# Sets `children_cpu` to the CPU seconds (user + system) this script's finished children used so
# far. `times` must run in this shell, not in a pipeline's or a substitution's subshell (whose
# children are its own), hence the file.
read_children_cpu() {
    times >"$ROOT/target/.bench-times"
    children_cpu=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%.1f", t }' \
        "$ROOT/target/.bench-times")
}

case $(uname -m) in
x86_64) host_flag=--x86-64 ;;
aarch64 | arm64) host_flag=--arm64 ;;
*) log "unsupported machine $(uname -m): cargo lambda builds for x86-64 or arm64"; exit 2 ;;
esac
if [[ -n ${BENCH_LAMBDA_ARCH:-} ]]; then
    zip_flag=$BENCH_LAMBDA_ARCH
elif rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    zip_flag=--arm64
else
    zip_flag=$host_flag
    [[ $host_flag == --arm64 ]] ||
        log "the aarch64-unknown-linux-gnu target is not installed: measuring x86-64 zips (see docs/benchmarks.md, section 2)"
fi
triple_of() {
    case $1 in
    --arm64) echo aarch64-unknown-linux-gnu ;;
    --x86-64) echo x86_64-unknown-linux-gnu ;;
    *) log "BENCH_LAMBDA_ARCH must be --arm64 or --x86-64"; exit 2 ;;
    esac
}
host_triple=$(triple_of "$host_flag")
zip_triple=$(triple_of "$zip_flag")
zip_arch=${zip_triple%%-*}
[[ $zip_arch == aarch64 ]] && zip_arch=arm64

background_pid=
stack_started=0
cleanup() {
    if [[ -n $background_pid ]] && kill -0 "$background_pid" 2>/dev/null; then
        kill $(pgrep -P "$background_pid") "$background_pid" 2>/dev/null || true
    fi
    if ((stack_started)); then
        stack_started=0
        scripts/stack.sh down bench || true
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# The build needs cargo-lambda; the crates download meanwhile.
t=$EPOCHREALTIME
cargo fetch --quiet &
background_pid=$!
scripts/stack.sh tools cargo-lambda
wait "$background_pid"
background_pid=
tools_seconds=$(since "$t")

# MiniStack and anvil are downloads: they install while the build compiles.
mkdir -p target
scripts/stack.sh tools ministack anvil >target/bench-tools.log 2>&1 &
background_pid=$!

packages=()
for f in "${FUNCTIONS[@]}" hello-lambda; do packages+=(-p "$f"); done
lambda() { PATH="$ROOT/.tools/cargo-lambda/bin:$PATH" cargo lambda "$@"; }
# Only a build with no earlier release build to reuse measures a fresh machine's run time.
BENCH_BUILD_FRESH=1
for triple in "$host_triple" "$zip_triple"; do
    [[ -d target/$triple/release/.fingerprint ]] && BENCH_BUILD_FRESH=0
done
t=$EPOCHREALTIME
read_children_cpu
cpu_before=$children_cpu
# One build for everything that runs here: the functions, hello-world, the harness and the
# criterion benchmarks, so cargo keeps both cores busy across all of them. The functions' binaries
# are exactly what `make build-lambdas` ships: tools/workspace-hack gives their dependencies the
# harness's features in both builds (`scripts/feature-drift.sh` checks it), so building the harness
# beside them changes none of their dependencies, and none compiles twice.
lambda_dir="$ROOT/target/lambda"
if [[ $zip_flag != "$host_flag" ]]; then
    log "build: ${FUNCTIONS[*]} and hello-lambda, zips for $zip_arch"
    lambda_dir="$ROOT/target/lambda-$zip_arch"
    lambda build --release "$zip_flag" --output-format zip --lambda-dir "$lambda_dir" "${packages[@]}"
fi
log "build: ${FUNCTIONS[*]}, hello-lambda, the harness and the benchmarks (${host_triple%%-*})"
# Zipped: the zip output leaves every binary where cargo put it (the plain one moves them all into
# the lambda directory, where the benchmarks' executables would not be found).
lambda build --release "$host_flag" --output-format zip "${packages[@]}" \
    -p bench --bins --bench handlers --bench allocations
BENCH_BUILD_SECONDS=$(since "$t")
# The build's CPU time (the installs beside it are downloads and add a few seconds at most).
read_children_cpu
BENCH_BUILD_CPU_SECONDS=$(awk -v a="$cpu_before" -v b="$children_cpu" 'BEGIN { printf "%.1f", b - a }')

t=$EPOCHREALTIME
if ! wait "$background_pid"; then
    background_pid=
    log "installing MiniStack and anvil failed; target/bench-tools.log:"
    tail -n 40 target/bench-tools.log >&2
    exit 1
fi
background_pid=
BENCH_TOOLS_SECONDS=$(awk -v a="$tools_seconds" -v b="$(since "$t")" 'BEGIN { printf "%.3f", a + b }')

release="$ROOT/target/$host_triple/release"
# A benchmark executable of this build: deps/<name>-<hash>, the newest if several.
bench_exe() {
    local exe
    exe=$(find "$release/deps" -maxdepth 1 -type f -executable -name "$1-*" ! -name '*.*' -printf '%T@ %p\n' |
        sort -rn | head -n 1 | cut -d' ' -f2-)
    [[ -n $exe ]] || { log "no $1 benchmark in $release/deps"; exit 1; }
    echo "$exe"
}
handlers_bench=$(bench_exe handlers)
allocations_bench=$(bench_exe allocations)

# A bench stack that was already up is reused and left running; one started here is stopped here.
if scripts/stack.sh is-up bench; then
    log "reusing the bench stack already running; leaving it up afterwards"
else
    stack_started=1
fi
scripts/stack.sh up bench
# The emulator's CPU time is §5's measure of how busy the run kept it (MiniStack runs here; a
# LocalStack container leaves it unmeasured).
emulator_pid=$(cat .dev/bench/ministack.pid 2>/dev/null || true)

export CRITERION_HOME="$ROOT/target/criterion"
log "criterion: handler cost"
t=$EPOCHREALTIME
# As `cargo bench` runs them: from the package's directory, with `--bench`.
(cd tools/bench && "$handlers_bench" --bench --warm-up-time 0.5 --measurement-time 1.5)
(cd tools/bench && "$allocations_bench" --bench)
BENCH_CRITERION_SECONDS=$(since "$t")

log "harness: cold start, sizes, requests, end to end, challenge node"
status=0
BENCH_ELAPSED_SECONDS=$(since "$begin")
env \
    AWS_ENDPOINT_URL="http://127.0.0.1:$BENCH_EMULATOR_PORT" \
    AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true \
    BENCH_RPC_URL="http://127.0.0.1:$BENCH_ANVIL_PORT" \
    BENCH_EMULATOR_PID="$emulator_pid" \
    BENCH_LAMBDA_DIR="$lambda_dir" \
    BENCH_BIN_DIR="$release" \
    BENCH_ZIP_BIN_DIR="$ROOT/target/$zip_triple/release" \
    BENCH_ARCH="$zip_arch" \
    BENCH_TOOLS_SECONDS="$BENCH_TOOLS_SECONDS" \
    BENCH_BUILD_SECONDS="$BENCH_BUILD_SECONDS" \
    BENCH_BUILD_CPU_SECONDS="$BENCH_BUILD_CPU_SECONDS" \
    BENCH_BUILD_FRESH="$BENCH_BUILD_FRESH" \
    BENCH_CRITERION_SECONDS="$BENCH_CRITERION_SECONDS" \
    BENCH_ELAPSED_SECONDS="$BENCH_ELAPSED_SECONDS" \
    "$release/tx-bench" --out "$ROOT/docs/benchmarks.md" "$@" || status=$?
log "make bench took $(since "$begin") s"
exit "$status"
