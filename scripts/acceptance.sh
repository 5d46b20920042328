#!/usr/bin/env bash
# Runs the acceptance tests: a real Vault server (built from Vault's Go
# module when `vault` is not on PATH), the plugin registered by sha256 and
# version, vendor-sim, the vault CLI, the Vault Go API client and vault agent.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${VERSION:-v0.1.0}"

vault_bin="$(scripts/vault.sh)"
go build -trimpath -o bin/vendor-sim ./cmd/vendor-sim
[ -x bin/vault-plugin-secrets-vendor ] || { echo "acceptance.sh: run 'make build' first" >&2; exit 1; }

export VAULT_BIN="$vault_bin"
export PLUGIN_BIN="$PWD/bin/vault-plugin-secrets-vendor"
export SIM_BIN="$PWD/bin/vendor-sim"
export PLUGIN_VERSION="$version"
# Keep Vault's own settings from a developer's shell out of the tests.
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_FORMAT
go test -tags acceptance -count=1 -timeout 20m -v ./acceptance/ 2>&1 | tee "${TMPDIR:-/tmp}/vendor-acceptance.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go:' 
exit "${PIPESTATUS[0]}"
