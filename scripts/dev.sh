#!/usr/bin/env bash
# make dev: a Vault dev server with the plugin registered by sha256 and
# version, vendor-sim serving every vendor over TLS, one demo role per vendor,
# and a token read for each. Runs until Ctrl-C, then stops everything.
#   VAULT_DEV_PORT  Vault's port (default 8200)
#   VAULT_VERSION   which Vault to run (scripts/vault.sh)
#   DEV_ONESHOT=1   stop after the demo instead of waiting (used by the tests);
#                   before stopping, run the printed "in another shell" commands
#                   in a clean shell and fail if one fails
#
# bin/vault is made a link to the Vault it runs, so that the printed commands
# find it after the printed `export PATH=...` line.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${VERSION:-v0.1.0}"
port="${VAULT_DEV_PORT:-8200}"
mount=vendor

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "dev.sh: port $port is in use (another Vault?). Stop it or set VAULT_DEV_PORT." >&2
  exit 1
fi

# VAULT_BIN: a server binary to use instead (the acceptance run's, e.g. OpenBao's).
vault_bin="${VAULT_BIN:-$(scripts/vault.sh)}"
[ -x bin/vault-plugin-secrets-vendor ] || { echo "dev.sh: run 'make dev' (it builds the plugin first)" >&2; exit 1; }
# bin/vault: the Vault this runs, for the commands printed below. When
# vault.sh found bin/vault itself on PATH it is already that.
vault_real="$(readlink -f "$vault_bin")"
if [ "$vault_real" != "$(readlink -f bin/vault 2>/dev/null || true)" ]; then
  ln -sfn "$vault_real" bin/vault
fi
go build -trimpath -o bin/vendor-sim ./cmd/vendor-sim

work="$(mktemp -d "${TMPDIR:-/tmp}/vendor-dev.XXXXXX")"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$work"
  echo "dev.sh: stopped Vault and vendor-sim"
}
trap cleanup EXIT INT TERM

# vendor-sim, in its own process group so that cleanup takes all of it. It
# writes sim.json (vendortest.Manifest) once every fake listens.
setsid bin/vendor-sim -dir "$work/sim" >"$work/sim.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -f "$work/sim/sim.json" ] && break; sleep 0.1; done
[ -f "$work/sim/sim.json" ] || { cat "$work/sim.log" >&2; echo "dev.sh: vendor-sim did not start" >&2; exit 1; }

mkdir -p "$work/plugins"
cp bin/vault-plugin-secrets-vendor "$work/plugins/"
echo "plugin_directory = \"$work/plugins\"" >"$work/plugins.hcl"
setsid "$vault_bin" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
  -config="$work/plugins.hcl" >"$work/vault.log" 2>&1 &
pids+=($!)

export VAULT_ADDR="http://127.0.0.1:$port" VAULT_TOKEN=root
unset VAULT_NAMESPACE VAULT_FORMAT
for _ in $(seq 1 300); do "$vault_bin" status >/dev/null 2>&1 && break; sleep 0.1; done
"$vault_bin" status >/dev/null 2>&1 || { cat "$work/vault.log" >&2; echo "dev.sh: Vault did not start" >&2; exit 1; }

sum="$(sha256sum "$work/plugins/vault-plugin-secrets-vendor" | cut -d' ' -f1)"
"$vault_bin" plugin register -sha256="$sum" -version="$version" secret vault-plugin-secrets-vendor
"$vault_bin" secrets enable -path="$mount" -plugin-version="$version" vault-plugin-secrets-vendor

vendors="$(cd "$work/sim/roles" && ls | sed 's/\.json$//')"
for v in $vendors; do
  "$vault_bin" write "$mount/roles/demo-$v" "@$work/sim/roles/$v.json" verify=true >/dev/null
  echo "wrote role $mount/roles/demo-$v (vendor $v, credentials verified against vendor-sim)"
done

for v in $vendors; do
  echo
  echo "\$ vault read $mount/token/demo-$v"
  "$vault_bin" read "$mount/token/demo-$v"
done

# What a new shell needs, as it will be pasted there.
try="export PATH=\"$PWD/bin:\$PATH\"
export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root
vault read $mount/token/demo-cyral
vault read -field=authorization $mount/token/demo-cyberark-pam
vault read $mount/roles/demo-privx
vault path-help $mount/roles/x"

cat <<TXT

Vault dev server: $VAULT_ADDR (root token: root), plugin $version at $mount/
Vault binary: $vault_real (linked at bin/vault)
Vendor simulators:
$(sed 's/^/  /' "$work/sim.log")

Try, in another shell:
$(sed 's/^/  /' <<<"$try")
TXT

if [ -n "${DEV_ONESHOT:-}" ]; then
  # The printed commands, in a shell with nothing of this one: a bare PATH,
  # no VAULT_* variables. vault must be found through the printed PATH line.
  if ! env -i HOME="$HOME" PATH=/usr/bin:/bin bash -euo pipefail -c "$try
[ \"\$(command -v vault)\" = \"$PWD/bin/vault\" ] || { echo \"vault found at \$(command -v vault), not $PWD/bin/vault\" >&2; exit 1; }" >"$work/try.log" 2>&1; then
    cat "$work/try.log" >&2
    echo "dev.sh: the printed commands failed in a new shell" >&2
    exit 1
  fi
  echo
  echo "dev.sh: the printed commands work in a new shell"
  exit 0
fi
echo
echo "Press Ctrl-C to stop Vault and vendor-sim."
wait "${pids[1]}"
