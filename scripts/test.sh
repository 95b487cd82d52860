#!/usr/bin/env bash
# Runs the workspace tests against the test-profile stack (emulator + anvil on
# the test ports), stops it afterwards, even on failure or Ctrl-C, and exits
# with the tests' own status.
# Extra arguments go to `cargo test` (e.g. scripts/test.sh -- --nocapture).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TEST_EMULATOR_PORT=${TEST_EMULATOR_PORT:-4599}
TEST_ANVIL_PORT=${TEST_ANVIL_PORT:-8599}
export TEST_EMULATOR_PORT TEST_ANVIL_PORT

# A test stack that was already up (someone's `scripts/stack.sh up test`, or
# another test run in progress) is reused and left running; one started here
# is stopped here.
stopped=0
if scripts/stack.sh is-up test; then
    echo "[test] reusing the test stack already running; leaving it up afterwards" >&2
    stopped=1
fi
stop_stack() {
    ((stopped)) && return 0
    stopped=1
    scripts/stack.sh down test || true
}
trap stop_stack EXIT
# Ctrl-C or a CI timeout: stop the stack, then report the signal as the status.
trap 'stop_stack; exit 130' INT
trap 'stop_stack; exit 143' TERM

# Static checks of infra/ first (checkov, pinned): a failure fails the run, after the tests.
infra_status=0
make --no-print-directory infra-check || infra_status=$?

# The functions' release build must not depend on what is built beside them (see the script).
drift_status=0
scripts/feature-drift.sh || drift_status=$?

scripts/stack.sh up test

log=$(mktemp)

set +e
env \
    AWS_ENDPOINT_URL="http://127.0.0.1:$TEST_EMULATOR_PORT" \
    AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test \
    AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true \
    TEST_RPC_URL="http://127.0.0.1:$TEST_ANVIL_PORT" \
    cargo test --workspace --all-targets --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
stop_stack

if ((infra_status)); then
    echo "infra-check: checkov failed (status $infra_status); see its report above" >&2
    ((status)) || status=$infra_status
fi

if ((drift_status)); then
    echo "feature-drift: the harness changes the functions' dependency features; see above" >&2
    ((status)) || status=$drift_status
fi

# What failed, at the end where a CI log's tail shows it: each failed test's panic, bounded.
if ((status)); then
    awk '/^---- .* stdout ----$/ || /^failures:$/ { name = $2; printing = 0 }
         /panicked at/ && name != "" { printing = 1; shown = 0; print "--- " name ":" }
         printing { print; if (++shown >= 40) printing = 0 }' "$log" | head -n 150
fi

# One closing line for the whole run: cargo prints a result per test binary, the last of which
# is often an empty doc-test run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
