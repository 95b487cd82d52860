#!/usr/bin/env bash
# `make bench`: builds what it measures, starts a stack of its own (MiniStack and anvil on the
# bench ports, 4598 and 8598), runs the criterion benchmarks and the harness (tools/bench),
# prints one table, writes docs/benchmarks.md, and stops the stack, even on failure or Ctrl-C.
#
#   1. the tools (MiniStack, anvil, cargo-lambda), pinned, into .tools/
#   2. `cargo lambda build --release --output-format zip` of every function and of the
#      hello-world reference: the real release profile, one build, the zips and binaries
#      measured for size and cold start
#   3. at the same time, the harness and the benchmarks in the `bench` profile: the release
#      profile's opt-level, without fat LTO and with 16 codegen units (target/bench/)
#   4. criterion, then the harness
#
# Extra arguments go to the harness (e.g. `--transactions 200 --only e2e`; see
# tools/bench/src/main.rs). BENCH_LAMBDA_ARCH=--arm64|--x86-64 picks the zips' CPU; the default
# is arm64 (as deployed) when the aarch64-unknown-linux-gnu target is installed, else x86-64.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BENCH_EMULATOR_PORT=${BENCH_EMULATOR_PORT:-4598}
BENCH_ANVIL_PORT=${BENCH_ANVIL_PORT:-8598}
export BENCH_EMULATOR_PORT BENCH_ANVIL_PORT
FUNCTIONS=(api signer broadcaster dead-letter sweeper retry notifier)

log() { printf '[bench] %s\n' "$*" >&2; }
begin=$EPOCHREALTIME
# Seconds since $1 (an $EPOCHREALTIME), with millisecond precision.
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

if [[ -n ${BENCH_LAMBDA_ARCH:-} ]]; then
    arch_flag=$BENCH_LAMBDA_ARCH
elif rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    arch_flag=--arm64
else
    arch_flag=--x86-64
    log "the aarch64-unknown-linux-gnu target is not installed: building x86-64 zips (see docs/benchmarks.md, section 2)"
fi
case $arch_flag in
--arm64) triple=aarch64-unknown-linux-gnu arch=arm64 ;;
--x86-64) triple=x86_64-unknown-linux-gnu arch=x86_64 ;;
*) log "BENCH_LAMBDA_ARCH must be --arm64 or --x86-64"; exit 2 ;;
esac

# The harness build starts first and runs beside the tool installs and the release build: the
# installs are downloads, and the release build ends in single-threaded fat-LTO links that
# leave a core idle. The harness builds in a target
# directory of its own so neither waits for the other's lock.
HARNESS_TARGET="$ROOT/target/bench"
mkdir -p "$HARNESS_TARGET"
harness_pid=
stack_started=0
cleanup() {
    if [[ -n $harness_pid ]] && kill -0 "$harness_pid" 2>/dev/null; then
        kill $(pgrep -P "$harness_pid") "$harness_pid" 2>/dev/null || true
    fi
    if ((stack_started)); then
        stack_started=0
        scripts/stack.sh down bench || true
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
log "harness and benchmarks (bench profile without fat LTO), in the background: $HARNESS_TARGET/build.log"
t_harness=$EPOCHREALTIME
(
    export CARGO_TARGET_DIR="$HARNESS_TARGET" CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16
    cargo build --profile bench -p bench --bins --benches >"$HARNESS_TARGET/build.log" 2>&1
    echo "$(since "$t_harness")" >"$HARNESS_TARGET/build.seconds"
) &
harness_pid=$!

# Downloads, mostly: done while the harness compiles.
t=$EPOCHREALTIME
scripts/stack.sh tools ministack anvil cargo-lambda
BENCH_TOOLS_SECONDS=$(since "$t")

log "release build: ${FUNCTIONS[*]} and hello-lambda ($arch)"
t=$EPOCHREALTIME
packages=()
for f in "${FUNCTIONS[@]}" hello-lambda; do packages+=(-p "$f"); done
PATH="$ROOT/.tools/cargo-lambda/bin:$PATH" cargo lambda build --release "$arch_flag" --output-format zip "${packages[@]}"
BENCH_RELEASE_BUILD_SECONDS=$(since "$t")

if ! wait "$harness_pid"; then
    log "the harness build failed; last lines of $HARNESS_TARGET/build.log:"
    tail -n 40 "$HARNESS_TARGET/build.log" >&2
    exit 1
fi
BENCH_HARNESS_BUILD_SECONDS=$(<"$HARNESS_TARGET/build.seconds")
export CARGO_TARGET_DIR="$HARNESS_TARGET" CARGO_PROFILE_BENCH_LTO=off CARGO_PROFILE_BENCH_CODEGEN_UNITS=16

# A bench stack that was already up is reused and left running; one started here is stopped here.
if scripts/stack.sh is-up bench; then
    log "reusing the bench stack already running; leaving it up afterwards"
else
    stack_started=1
fi
scripts/stack.sh up bench

export CRITERION_HOME="$HARNESS_TARGET/criterion"
log "criterion: handler cost"
t=$EPOCHREALTIME
cargo bench -p bench --bench handlers -- --warm-up-time 1 --measurement-time 2
cargo bench -p bench --bench allocations
BENCH_CRITERION_SECONDS=$(since "$t")

log "harness: cold start, sizes, requests, emulator ceiling, end to end, challenge node"
status=0
BENCH_ELAPSED_SECONDS=$(since "$begin")
env \
    AWS_ENDPOINT_URL="http://127.0.0.1:$BENCH_EMULATOR_PORT" \
    AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true \
    BENCH_RPC_URL="http://127.0.0.1:$BENCH_ANVIL_PORT" \
    BENCH_LAMBDA_DIR="$ROOT/target/lambda" \
    BENCH_BIN_DIR="$ROOT/target/$triple/release" \
    BENCH_ARCH="$arch" \
    BENCH_TOOLS_SECONDS="$BENCH_TOOLS_SECONDS" \
    BENCH_RELEASE_BUILD_SECONDS="$BENCH_RELEASE_BUILD_SECONDS" \
    BENCH_HARNESS_BUILD_SECONDS="$BENCH_HARNESS_BUILD_SECONDS" \
    BENCH_CRITERION_SECONDS="$BENCH_CRITERION_SECONDS" \
    BENCH_ELAPSED_SECONDS="$BENCH_ELAPSED_SECONDS" \
    "$HARNESS_TARGET/release/tx-bench" --out "$ROOT/docs/benchmarks.md" "$@" || status=$?
log "make bench took $(since "$begin") s"
exit "$status"
