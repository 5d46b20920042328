#!/usr/bin/env bash
# Runs the acceptance tests: a real Vault server (built from Vault's Go
# module when `vault` is not on PATH), the plugin registered by sha256 and
# version, vendor-sim, the vault CLI, the Vault Go API client and vault agent,
# and a 3-node Raft cluster that loses its leader.
#   SERVER=openbao  the same tests against an OpenBao server (make test-openbao):
#                   BAO_BIN names its binary, else `bao` on PATH
set -euo pipefail
cd "$(dirname "$0")/.."
version="${VERSION:-v0.1.0}"
server="${SERVER:-vault}"
name=Vault

case "$server" in
vault)
  vault_bin="$(scripts/vault.sh)"
  ;;
openbao)
  name=OpenBao
  vault_bin="${BAO_BIN:-$(command -v bao || true)}"
  if [ -z "$vault_bin" ]; then
    echo "acceptance.sh: no OpenBao server: set BAO_BIN=/path/to/bao or put \`bao\` on PATH" >&2
    echo "acceptance.sh: (OpenBao's release binaries: https://github.com/openbao/openbao/releases)" >&2
    exit 1
  fi
  [ -x "$vault_bin" ] || { echo "acceptance.sh: BAO_BIN=$vault_bin is not an executable file" >&2; exit 1; }
  vault_bin="$(cd "$(dirname "$vault_bin")" && pwd)/$(basename "$vault_bin")"
  "$vault_bin" version 2>/dev/null | grep -q '^OpenBao ' || { echo "acceptance.sh: $vault_bin is not an OpenBao server (its \`version\` does not say OpenBao)" >&2; exit 1; }
  echo "acceptance.sh: against $("$vault_bin" version) at $vault_bin"
  ;;
*)
  echo "acceptance.sh: SERVER=$server: want vault or openbao" >&2
  exit 1
  ;;
esac
go build -trimpath -o bin/vendor-sim ./cmd/vendor-sim
[ -x bin/vault-plugin-secrets-vendor ] || { echo "acceptance.sh: run 'make build' first" >&2; exit 1; }

export VAULT_BIN="$vault_bin"
export PLUGIN_BIN="$PWD/bin/vault-plugin-secrets-vendor"
export SIM_BIN="$PWD/bin/vendor-sim"
export PLUGIN_VERSION="$version"
# Keep Vault's and OpenBao's own settings from a developer's shell out of the
# tests (OpenBao's CLI reads BAO_* before VAULT_*).
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_FORMAT BAO_ADDR BAO_TOKEN BAO_NAMESPACE BAO_FORMAT
log="${TMPDIR:-/tmp}/vendor-acceptance-$server.log"
set +e
go test -tags acceptance -count=1 -timeout 30m -v -run "${RUN:-.}" ./acceptance/ >"$log" 2>&1
rc=$?
set -e
grep -E '^\s*(--- |PASS|FAIL|ok|panic)|_test.go:' "$log" || true
if [ "$rc" -ne 0 ]; then
  echo "acceptance tests failed (full log: $log)" >&2
  exit "$rc"
fi

# RUN picks some tests only (make test-ha); the make dev smoke run is then skipped.
[ -z "${RUN:-}" ] || exit 0

# make dev, once through: it must come up, mint for every vendor and leave nothing running.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18299)"
dev_out="$(VAULT_BIN="$vault_bin" VAULT_DEV_PORT="$port" DEV_ONESHOT=1 VERSION="$version" scripts/dev.sh 2>&1)" || { echo "$dev_out" >&2; echo "make dev failed" >&2; exit 1; }
for v in cyral cyberark cyberark-pam privx incydr oauth2; do
  grep -q "vendor             $v" <<<"$dev_out" || { echo "$dev_out" >&2; echo "make dev printed no token for $v" >&2; exit 1; }
done
echo "--- PASS: make dev (one-shot): $name dev server, vendor-sim, 6 demo roles, 6 token reads, clean stop"

# make cluster, once through: three Raft nodes up, a read through each, all stopped.
cluster_out="$(go run ./scripts/cluster -oneshot 2>&1)" || { echo "$cluster_out" >&2; echo "make cluster failed" >&2; exit 1; }
[ "$(grep -c '^node[123] .*token read' <<<"$cluster_out")" = 3 ] || { echo "$cluster_out" >&2; echo "make cluster read no token through every node" >&2; exit 1; }
if pgrep -f "vendor-cluster-" >/dev/null; then echo "make cluster left processes running" >&2; exit 1; fi
echo "--- PASS: make cluster (one-shot): 3 $name Raft nodes, demo roles through a standby, a token read through each node, clean stop"
