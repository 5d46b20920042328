#!/usr/bin/env bash
# make bench: Go benchmarks of the read and mint paths in-process, then the
# load run against a real Vault dev server (scripts/bench/load). Benchmarks
# are not tests: nothing here passes or fails on a time.
#
# Flags for the load run come from the arguments or BENCH_ARGS, e.g.
#   make bench GO_BENCH=0 BENCH_ARGS='-scenarios slow,outage,hang -outage 10s'
# (GO_BENCH=0 skips the in-process benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${VERSION:-v0.1.0}"

if [ "${GO_BENCH:-1}" != 0 ]; then
  echo "== Go benchmarks (in-process, allocations)"
  go test -run='^$' -bench=. -benchmem -count=1 .
fi

vault_bin="$(scripts/vault.sh)"
go build -trimpath -o bin/vendor-sim ./cmd/vendor-sim
go build -trimpath -o bin/noop ./scripts/bench/noop
[ -x bin/vault-plugin-secrets-vendor ] || { echo "bench.sh: run 'make bench' (it builds the plugin first)" >&2; exit 1; }
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_FORMAT
echo
echo "== Load run against a Vault dev server"
VAULT_BIN="$vault_bin" PLUGIN_BIN="$PWD/bin/vault-plugin-secrets-vendor" SIM_BIN="$PWD/bin/vendor-sim" \
  NOOP_BIN="$PWD/bin/noop" PLUGIN_VERSION="$version" go run ./scripts/bench/load ${BENCH_ARGS:-} "$@"
