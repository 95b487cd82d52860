#!/usr/bin/env bash
# Fails when building the harness beside the functions would change the features of a crate the
# functions use. Such a crate, and every crate above it, would then compile twice in a fresh
# `make bench` (once for `make build-lambdas`' feature set, once for the harness's), and the
# functions measured would not be the functions shipped. The fix is to enable the reported
# features in tools/workspace-hack/Cargo.toml.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Every function: each crate under functions/ is named after its directory.
functions=()
for dir in functions/*/; do functions+=(-p "$(basename "$dir")"); done
harness=(-p bench -p devstack -p rpc-proxy)
target=$(rustc -vV | awk '/^host:/ { print $2 }')

# One line per crate: `name version features`, for what one cargo invocation would build.
resolve() {
    cargo tree --quiet --target "$target" --prefix none --format '{p} {f}' "$@" |
        sed -e 's/ (\*)$//' -e 's/ ([^)]*)//' | sort -u
}

alone=$(resolve "${functions[@]}" -e normal,build)
together=$(resolve "${functions[@]}" "${harness[@]}" -e normal,build,dev)

# A crate can appear with two feature sets (built for the target and, as a build dependency or
# proc macro's dependency, for the host): compare all of a crate's sets at once.
sets() { awk '{ k = $1 "@" $2; s[k] = (k in s) ? s[k] "|" $3 : $3 } END { for (k in s) print k, s[k] }' | sort; }
drift=$(join -j 1 -o 1.1,1.2,2.2 <(sets <<<"$alone") <(sets <<<"$together") |
    awk '$2 != $3 { printf "  %s: alone [%s], beside the harness [%s]\n", $1, $2, $3 }')
if [[ -n $drift ]]; then
    echo "feature drift: the harness changes the features of crates the functions use:" >&2
    echo "$drift" >&2
    echo "enable them in tools/workspace-hack/Cargo.toml" >&2
    exit 1
fi
echo "feature drift: none (the functions build the same alone and beside the harness)"
