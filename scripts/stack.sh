#!/usr/bin/env bash
# Local stack for tx-broadcaster: the AWS emulator (MiniStack) and an anvil node.
#
#   scripts/stack.sh tools [ministack|anvil|cargo-lambda|checkov|browser|schemathesis ...]
#                                   install pinned tools into .tools/ (idempotent;
#                                   default: ministack, anvil, cargo-lambda, browser, schemathesis)
#   scripts/stack.sh up <dev|test|bench>  start (or attach to) the emulator and anvil
#   scripts/stack.sh down <dev|test|bench> stop what `up` started (pid files only)
#   scripts/stack.sh status         show every profile
#   scripts/stack.sh is-up <dev|test|bench> exit 0 when both answer (for scripts)
#   scripts/stack.sh lambda-env <dev|test>
#                                   print KEY=VALUE lines for `cargo lambda watch`
#
# Profiles:
#   dev   emulator 127.0.0.1:${EMULATOR_PORT:-4566}, anvil 127.0.0.1:${ANVIL_PORT:-8545}
#         (chain 31337), a second anvil 127.0.0.1:${SECOND_ANVIL_PORT:-8555} (chain 31338);
#         state persists in .dev/ across restarts of any of them.
#   test  emulator 127.0.0.1:${TEST_EMULATOR_PORT:-4599}, anvil 127.0.0.1:${TEST_ANVIL_PORT:-8599};
#         no persistence; .dev/test/ is wiped at start unless processes of an
#         earlier `up test` still run (those are reused).
#   bench emulator 127.0.0.1:${BENCH_EMULATOR_PORT:-4598}, anvil 127.0.0.1:${BENCH_ANVIL_PORT:-8598};
#         like test, in .dev/bench/: `make bench` measures on a stack of its own.
#
# `up` attaches to whatever already answers on a port (a LocalStack from
# docker-compose, or a previous `up`) instead of starting a second one, and
# `down` only ever stops processes whose pid file it wrote itself.
set -euo pipefail

# --- Pinned tool versions ----------------------------------------------------
MINISTACK_VERSION=1.5.33
CRYPTOGRAPHY_VERSION=50.0.2 # MiniStack needs it for asymmetric (secp256k1) KMS keys
ANVIL_VERSION=1.7.1
CARGO_LAMBDA_VERSION=1.9.2
CHECKOV_VERSION=3.3.30
PLAYWRIGHT_CORE_VERSION=1.65.1 # drives Debian's chromium; never downloads a browser
SCHEMATHESIS_VERSION=4.32.5     # checks the API against its OpenAPI document (tests/openapi.rs)

# --- Layout --------------------------------------------------------------------
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_DIR=${TOOLS_DIR:-$ROOT/.tools}
DEV_DIR=${DEV_DIR:-$ROOT/.dev}
PYTHON=${PYTHON:-python3}
START_TIMEOUT=${STACK_START_TIMEOUT:-60} # seconds to wait for a started process to answer
STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-30}   # seconds to wait for SIGTERM (MiniStack saves state then)
LOCAL_CHAIN_ID=31337
SECOND_CHAIN_ID=31338 # the dev stack's second chain

MINISTACK_BIN=$TOOLS_DIR/ministack/bin/ministack
CARGO_LAMBDA_BIN=$TOOLS_DIR/cargo-lambda/bin/cargo-lambda
CHECKOV_BIN=$TOOLS_DIR/checkov/bin/checkov
SCHEMATHESIS_BIN=$TOOLS_DIR/schemathesis/bin/schemathesis

log() { printf '[stack] %s\n' "$*" >&2; }
die() {
    printf '[stack] error: %s\n' "$*" >&2
    exit 1
}

# --- Prerequisites -------------------------------------------------------------

# Installs Debian packages, but only as root and only for what is missing.
apt_install() {
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing: $* (install it, e.g. 'sudo apt-get install $*')"
    fi
    log "installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

need_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3 python3-venv
    # Debian's python3 ships venv without ensurepip unless python3-venv is installed.
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3-venv
}

need_npm() {
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
}

have_curl() { command -v curl >/dev/null 2>&1; }

# --- HTTP probes (curl, or python3 when curl is absent) -------------------------

# Prints the HTTP status of GET url ("000" when nothing answered).
http_status() {
    local url=$1
    if have_curl; then
        curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 3 "$url" || true
    else
        "$PYTHON" - "$url" <<'PY' || true
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
PY
    fi
}

# Prints the JSON-RPC eth_chainId answer as a decimal number, or nothing.
rpc_chain_id() {
    local url=$1 body='{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' out
    if have_curl; then
        out=$(curl -s --connect-timeout 1 --max-time 3 -H 'Content-Type: application/json' -d "$body" "$url" || true)
    else
        out=$("$PYTHON" - "$url" "$body" <<'PY' || true
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, timeout=3) as r:
        print(r.read().decode())
except Exception:
    pass
PY
        )
    fi
    [[ -n $out ]] || return 0
    "$PYTHON" -c '
import json, sys
try:
    print(int(json.loads(sys.argv[1])["result"], 16))
except Exception:
    pass' "$out"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

emulator_ready() { [[ $(http_status "http://127.0.0.1:$1/_localstack/health") != 000 ]]; }
anvil_ready() { [[ -n $(rpc_chain_id "http://127.0.0.1:$1") ]]; }

# --- Tool installation ---------------------------------------------------------

# A stamp file names the installed version, so a changed pin reinstalls and an
# interrupted install (no stamp) is redone from scratch.
stamp_ok() { [[ -f $1/.installed-$2 ]]; }
write_stamp() {
    rm -f "$1"/.installed-*
    : >"$1/.installed-$2"
}

# Adopts a venv installed by hand (no stamp) when it holds the pinned version.
venv_has() {
    local dir=$1 dist=$2 version=$3
    [[ -x $dir/bin/python ]] &&
        [[ $("$dir/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$dist" 2>/dev/null) == "$version" ]]
}

install_venv() { # dir version-tag pip-requirements...
    local dir=$1 tag=$2
    shift 2
    need_python
    log "installing $* into ${dir#"$ROOT"/}"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" </dev/null
    write_stamp "$dir" "$tag"
}

tool_ministack() {
    local dir=$TOOLS_DIR/ministack tag="ministack-$MINISTACK_VERSION+cryptography-$CRYPTOGRAPHY_VERSION"
    if stamp_ok "$dir" "$tag" && [[ -x $MINISTACK_BIN ]]; then return; fi
    if venv_has "$dir" ministack "$MINISTACK_VERSION" && venv_has "$dir" cryptography "$CRYPTOGRAPHY_VERSION"; then
        write_stamp "$dir" "$tag"
        return
    fi
    install_venv "$dir" "$tag" "ministack==$MINISTACK_VERSION" "cryptography==$CRYPTOGRAPHY_VERSION"
}

tool_cargo_lambda() {
    local dir=$TOOLS_DIR/cargo-lambda tag="cargo-lambda-$CARGO_LAMBDA_VERSION"
    if stamp_ok "$dir" "$tag" && [[ -x $CARGO_LAMBDA_BIN ]]; then return; fi
    if venv_has "$dir" cargo-lambda "$CARGO_LAMBDA_VERSION"; then
        write_stamp "$dir" "$tag"
        return
    fi
    install_venv "$dir" "$tag" "cargo-lambda==$CARGO_LAMBDA_VERSION"
}

tool_checkov() {
    local dir=$TOOLS_DIR/checkov tag="checkov-$CHECKOV_VERSION"
    if stamp_ok "$dir" "$tag" && [[ -x $CHECKOV_BIN ]]; then return; fi
    if venv_has "$dir" checkov "$CHECKOV_VERSION"; then
        write_stamp "$dir" "$tag"
        return
    fi
    install_venv "$dir" "$tag" "checkov==$CHECKOV_VERSION"
}

tool_schemathesis() {
    local dir=$TOOLS_DIR/schemathesis tag="schemathesis-$SCHEMATHESIS_VERSION"
    if stamp_ok "$dir" "$tag" && [[ -x $SCHEMATHESIS_BIN ]]; then return; fi
    if venv_has "$dir" schemathesis "$SCHEMATHESIS_VERSION"; then
        write_stamp "$dir" "$tag"
        return
    fi
    install_venv "$dir" "$tag" "schemathesis==$SCHEMATHESIS_VERSION"
}

anvil_platform() {
    local os arch
    case $(uname -s) in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) die "anvil: unsupported OS $(uname -s)" ;;
    esac
    case $(uname -m) in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "anvil: unsupported CPU $(uname -m)" ;;
    esac
    printf '%s-%s' "$os" "$arch"
}

anvil_bin() { printf '%s' "$TOOLS_DIR/anvil/node_modules/@foundry-rs/anvil-$(anvil_platform)/bin/anvil"; }

tool_anvil() {
    local dir=$TOOLS_DIR/anvil tag="anvil-$ANVIL_VERSION" bin
    bin=$(anvil_bin)
    if stamp_ok "$dir" "$tag" && [[ -x $bin ]]; then return; fi
    if [[ -x $bin ]] && "$bin" --version 2>/dev/null | grep -q "Version: $ANVIL_VERSION\b"; then
        write_stamp "$dir" "$tag"
        return
    fi
    need_npm
    log "installing @foundry-rs/anvil-$(anvil_platform)@$ANVIL_VERSION into ${dir#"$ROOT"/}"
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --save-exact --loglevel=error \
        "@foundry-rs/anvil-$(anvil_platform)@$ANVIL_VERSION" </dev/null
    [[ -x $bin ]] || die "anvil binary not found at $bin after npm install"
    write_stamp "$dir" "$tag"
}

# Browser tests: playwright-core from npm and Debian's chromium (never a downloaded browser).
tool_browser() {
    local dir=$TOOLS_DIR/playwright tag="playwright-core-$PLAYWRIGHT_CORE_VERSION"
    if ! stamp_ok "$dir" "$tag"; then
        need_npm
        log "installing playwright-core@$PLAYWRIGHT_CORE_VERSION into ${dir#"$ROOT"/}"
        rm -rf "$dir"
        mkdir -p "$dir"
        PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir" --no-audit --no-fund --save-exact \
            --loglevel=error "playwright-core@$PLAYWRIGHT_CORE_VERSION" </dev/null
        write_stamp "$dir" "$tag"
    fi
    if ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium
    fi
}

cmd_tools() {
    local wanted=("$@")
    ((${#wanted[@]})) || wanted=(ministack anvil cargo-lambda browser schemathesis)
    mkdir -p "$TOOLS_DIR"
    # Serialise concurrent installs (two make targets in parallel, say).
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$TOOLS_DIR/.install.lock"
        flock 9
    fi
    local t
    for t in "${wanted[@]}"; do
        case $t in
        ministack) tool_ministack ;;
        anvil) tool_anvil ;;
        cargo-lambda) tool_cargo_lambda ;;
        checkov) tool_checkov ;;
        browser) tool_browser ;;
        schemathesis) tool_schemathesis ;;
        *) die "unknown tool '$t' (ministack, anvil, cargo-lambda, checkov, browser, schemathesis)" ;;
        esac
    done
    log "tools ready: ${wanted[*]}"
}

# --- Profiles ------------------------------------------------------------------

# Sets EMU_PORT, ANVIL_PORT_, RUN_DIR and PERSIST for a profile.
load_profile() {
    case ${1:-} in
    dev)
        EMU_PORT=${EMULATOR_PORT:-4566}
        ANVIL_PORT_=${ANVIL_PORT:-8545}
        SECOND_ANVIL_PORT_=${SECOND_ANVIL_PORT:-8555}
        RUN_DIR=$DEV_DIR
        PERSIST=1
        ;;
    test)
        EMU_PORT=${TEST_EMULATOR_PORT:-4599}
        ANVIL_PORT_=${TEST_ANVIL_PORT:-8599}
        RUN_DIR=$DEV_DIR/test
        PERSIST=0
        ;;
    bench)
        EMU_PORT=${BENCH_EMULATOR_PORT:-4598}
        ANVIL_PORT_=${BENCH_ANVIL_PORT:-8598}
        RUN_DIR=$DEV_DIR/bench
        PERSIST=0
        ;;
    *) die "profile must be 'dev', 'test' or 'bench' (got '${1:-}')" ;;
    esac
    [[ $1 == dev ]] || SECOND_ANVIL_PORT_=
    PROFILE=$1
}

# Prints the pid recorded in a pid file if that process is still alive and is
# the program we started (guards against a recycled pid).
live_pid() { # pidfile expected-name
    local pidfile=$1 name=$2 pid
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/cmdline ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name" || return 1
    fi
    printf '%s' "$pid"
}

# Starts a command detached from this shell: its own session (so Ctrl-C in the
# terminal and the end of `make` leave it running), stdin from /dev/null,
# output to a log, and no inherited descriptors (a CI runner waiting for EOF on
# its stdout pipe must not wait for the emulator too).
spawn() { # pidfile logfile cmd...
    local pidfile=$1 logfile=$2
    shift 2
    "$PYTHON" - "$pidfile" "$logfile" "$@" <<'PY'
import subprocess, sys
pidfile, logfile, *cmd = sys.argv[1:]
with open(logfile, "ab") as out:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True)
with open(pidfile, "w") as f:
    f.write(f"{proc.pid}\n")
PY
}

# Polls until `check port` succeeds; on timeout or early exit shows the log.
wait_ready() { # what check port pidfile logfile name
    local what=$1 check=$2 port=$3 pidfile=$4 logfile=$5 name=$6 deadline pid
    pid=$(<"$pidfile")
    deadline=$((SECONDS + START_TIMEOUT))
    until "$check" "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$what exited during start-up; last 40 lines of ${logfile#"$ROOT"/}:"
            tail -n 40 "$logfile" >&2 || true
            rm -f "$pidfile"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "$what did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; last 40 lines of ${logfile#"$ROOT"/}:"
            tail -n 40 "$logfile" >&2 || true
            stop_one "$what" "$pidfile" "$name"
            exit 1
        fi
        sleep 0.5
    done
}

# If something already listens on the port, check it answers and attach to it.
# Returns 0 when attached, 1 when the port is free (caller starts a process).
attach_if_listening() { # what check port pidfile name
    local what=$1 check=$2 port=$3 pidfile=$4 name=$5 pid owner deadline
    port_open "$port" || return 1
    # Give a process that is still booting a moment before judging it.
    deadline=$((SECONDS + 15))
    until "$check" "$port"; do
        ((SECONDS < deadline)) || die "127.0.0.1:$port is in use but does not answer like $what; stop whatever holds it or pick another port"
        sleep 0.5
    done
    if pid=$(live_pid "$pidfile" "$name"); then
        owner="started by an earlier 'up $PROFILE', pid $pid"
    else
        rm -f "$pidfile" # not ours: `down` must leave it alone
        owner="not started by this script; 'down' will leave it running"
    fi
    log "$what: attaching to the one already listening on 127.0.0.1:$port ($owner)"
    return 0
}

up_emulator() {
    local pidfile=$RUN_DIR/ministack.pid logfile=$RUN_DIR/ministack.log
    attach_if_listening "emulator" emulator_ready "$EMU_PORT" "$pidfile" ministack && return 0
    [[ -x $MINISTACK_BIN ]] || die "MiniStack is not installed; run: scripts/stack.sh tools"
    local env_args=(BIND_HOST=127.0.0.1 GATEWAY_PORT="$EMU_PORT" IOT_MTLS_ENABLED=0 SFTP_ENABLED=0)
    if ((PERSIST)); then
        mkdir -p "$RUN_DIR/ministack-state"
        env_args+=(PERSIST_STATE=1 STATE_DIR="$RUN_DIR/ministack-state")
    else
        env_args+=(PERSIST_STATE=0)
    fi
    log "emulator: starting MiniStack $MINISTACK_VERSION on 127.0.0.1:$EMU_PORT (log: ${logfile#"$ROOT"/})"
    spawn "$pidfile" "$logfile" env "${env_args[@]}" "$MINISTACK_BIN"
    wait_ready "emulator" emulator_ready "$EMU_PORT" "$pidfile" "$logfile" ministack
    log "emulator: ready (pid $(<"$pidfile"))"
}

up_anvil() {
    up_one_anvil anvil "$ANVIL_PORT_" "$LOCAL_CHAIN_ID" anvil
    # The dev stack serves a second chain too (`make dev`: two chains).
    if [[ -n $SECOND_ANVIL_PORT_ ]]; then
        up_one_anvil "anvil-2" "$SECOND_ANVIL_PORT_" "$SECOND_CHAIN_ID" anvil-2
    fi
}

up_one_anvil() { # what port chain-id file-stem
    local what=$1 port=$2 chain_id=$3 stem=$4 pidfile logfile bin chain
    pidfile=$RUN_DIR/$stem.pid logfile=$RUN_DIR/$stem.log
    bin=$(anvil_bin)
    if attach_if_listening "$what" anvil_ready "$port" "$pidfile" anvil; then
        chain=$(rpc_chain_id "http://127.0.0.1:$port")
        [[ $chain == "$chain_id" ]] || log "$what: warning: the node on 127.0.0.1:$port reports chain id $chain, not $chain_id"
        return 0
    fi
    [[ -x $bin ]] || die "anvil is not installed; run: scripts/stack.sh tools"
    local args=(--host 127.0.0.1 --port "$port" --chain-id "$chain_id")
    if ((PERSIST)); then
        # --state loads the file if present and dumps on exit; the interval dump
        # bounds what a crash or SIGKILL loses.
        args+=(--state "$RUN_DIR/$stem-state.json" --state-interval 10)
    fi
    log "$what: starting anvil $ANVIL_VERSION on 127.0.0.1:$port, chain id $chain_id (log: ${logfile#"$ROOT"/})"
    spawn "$pidfile" "$logfile" "$bin" "${args[@]}"
    wait_ready "$what" anvil_ready "$port" "$pidfile" "$logfile" anvil
    log "$what: ready (pid $(<"$pidfile"))"
}

# Serialises `up`/`down` of one profile: two runs starting at once would
# otherwise both see a free port, or one would wipe the other's pid files.
lock_profile() {
    mkdir -p "$DEV_DIR"
    command -v flock >/dev/null 2>&1 || return 0
    exec 8>"$DEV_DIR/.stack-$PROFILE.lock"
    flock -w 180 8 || die "another scripts/stack.sh is still starting or stopping the $PROFILE stack"
}

cmd_up() {
    load_profile "${1:-}"
    lock_profile
    if [[ $PROFILE == test || $PROFILE == bench ]] &&
        ! live_pid "$RUN_DIR/ministack.pid" ministack >/dev/null &&
        ! live_pid "$RUN_DIR/anvil.pid" anvil >/dev/null; then
        rm -rf "$RUN_DIR" # nothing of ours is running: start from a clean slate
    fi
    mkdir -p "$RUN_DIR"
    up_emulator
    up_anvil
    log "$PROFILE stack up: AWS_ENDPOINT_URL=http://127.0.0.1:$EMU_PORT  RPC_URL=http://127.0.0.1:$ANVIL_PORT_"
}

stop_one() { # what pidfile name
    local what=$1 pidfile=$2 name=$3 pid deadline
    if ! pid=$(live_pid "$pidfile" "$name"); then
        if [[ -f $pidfile ]]; then
            log "$what: not running (stale pid file removed)"
        else
            log "$what: nothing started by 'up $PROFILE' is running"
        fi
        rm -f "$pidfile"
        return 0
    fi
    log "$what: stopping pid $pid"
    # Started with its own session, so the pid is also the process group id:
    # signal the group to take any children with it.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "$what: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$pidfile"
    log "$what: stopped"
}

cmd_down() {
    load_profile "${1:-}"
    lock_profile
    stop_one "anvil" "$RUN_DIR/anvil.pid" anvil
    [[ -z $SECOND_ANVIL_PORT_ ]] || stop_one "anvil-2" "$RUN_DIR/anvil-2.pid" anvil
    stop_one "emulator" "$RUN_DIR/ministack.pid" ministack
}

# Exit status 0 when both the emulator and anvil of a profile answer.
cmd_is_up() {
    load_profile "${1:-}"
    emulator_ready "$EMU_PORT" && anvil_ready "$ANVIL_PORT_"
}

cmd_status() {
    local profile what port pidfile name check state pid
    for profile in dev test bench; do
        load_profile "$profile"
        printf '%s (%s)\n' "$profile" "${RUN_DIR#"$ROOT"/}"
        local shown=(emulator anvil)
        [[ -z $SECOND_ANVIL_PORT_ ]] || shown+=(anvil-2)
        for what in "${shown[@]}"; do
            case $what in
            emulator) port=$EMU_PORT pidfile=$RUN_DIR/ministack.pid name=ministack check=emulator_ready ;;
            anvil) port=$ANVIL_PORT_ pidfile=$RUN_DIR/anvil.pid name=anvil check=anvil_ready ;;
            *) port=$SECOND_ANVIL_PORT_ pidfile=$RUN_DIR/anvil-2.pid name=anvil check=anvil_ready ;;
            esac
            if "$check" "$port"; then
                state=up
            elif port_open "$port"; then
                state="port in use, not answering"
            else
                state=down
            fi
            if pid=$(live_pid "$pidfile" "$name"); then
                state+=", started here (pid $pid)"
            elif [[ $state == up* ]]; then
                state+=", external"
            fi
            printf '  %-9s 127.0.0.1:%-5s %s\n' "$what" "$port" "$state"
        done
    done
}

# Environment for `cargo lambda watch`: every variable the functions read,
# pointing at the local stack and at the resource names devstack provisions.
# <run dir>/lambda.env (written by `devstack provision --env-file`) overrides
# these defaults key by key.
cmd_lambda_env() {
    load_profile "${1:-}"
    local prefix=${DEV_PREFIX:-tx-broadcaster} account=000000000000 region=${AWS_REGION:-us-east-1}
    {
        cat <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$EMU_PORT
AWS_REGION=$region
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
RPC_URL=http://127.0.0.1:$ANVIL_PORT_
CHAIN_ID=$LOCAL_CHAIN_ID
TABLE_NAME=$prefix-transactions
WEBHOOK_TABLE_NAME=$prefix-webhooks
WEBHOOK_QUEUE_URL=http://127.0.0.1:$EMU_PORT/$account/$prefix-webhooks
TOPIC_ARN=arn:aws:sns:$region:$account:$prefix-requests
BROADCAST_QUEUE_URL=http://127.0.0.1:$EMU_PORT/$account/$prefix-broadcast
KMS_KEY_ID=alias/$prefix-signer
ALLOWED_MESSAGE_TYPES=
TARGET_CONTRACTS=
RPC_TIMEOUT_MS=45000
CONFIRMATIONS=1
RUST_LOG=${RUST_LOG:-info}
EOF
        [[ ! -f $RUN_DIR/lambda.env ]] || cat "$RUN_DIR/lambda.env"
    } | awk -F= '
        BEGIN { split("CHAIN_ID CHAIN_NAME RPC_URL RPC_NODES RPC_SEND_TO KMS_KEY_ID KMS_KEY_IDS TARGET_CONTRACT TARGET_CONTRACTS CONFIRMATIONS REPRICE_AFTER_BLOCKS", one, " "); for (i in one) one_chain[one[i]] = 1 }
        /^[[:space:]]*(#|$)/ { next }
        { if (!($1 in val)) order[n++] = $1; val[$1] = $0 }
        # With CHAINS (several chains, from devstack), the one-chain defaults above must go.
        END { for (i = 0; i < n; i++) if (!("CHAINS" in val && order[i] in one_chain)) print val[order[i]] }'
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
    tools) cmd_tools "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    is-up) cmd_is_up "$@" ;;
    lambda-env) cmd_lambda_env "$@" ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
