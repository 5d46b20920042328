#!/usr/bin/env bash
# Prints the path of a `vault` binary for the tests, make dev and make cluster.
#
#   VAULT_VERSION      which Vault, e.g. v1.19.0. Unset: the version that
#                      scripts/vaultbin/go.mod requires. Another version is
#                      built from scripts/vaultbin-<version>/; a version with no
#                      such directory is refused, listing the ones there are.
#   VAULT_FROM_SOURCE  set: never use a `vault` found on PATH.
#
# A `vault` on PATH is used when VAULT_VERSION is unset, or when it reports
# that version; never the project's own bin/vault (make dev's link to the
# server it last ran) nor one that does not say it is Vault (OpenBao). Otherwise Vault is built from its Go module into the user
# cache, one directory per Vault version, and rebuilt only when the tool
# module's files change, so later runs and fresh clones reuse it. A first
# build takes 12-18 minutes on 2 cores and downloads about 4 GB of modules
# into the Go module cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# The Vault version a tool module's go.mod requires.
required_version() {
  awk '$1 == "github.com/hashicorp/vault" || $2 == "github.com/hashicorp/vault" {print $NF}' "$1/go.mod" | head -n1
}

default_version="$(required_version "$here/vaultbin")"
[ -n "$default_version" ] || { echo "vault.sh: cannot read Vault's version from $here/vaultbin/go.mod" >&2; exit 1; }

want="${VAULT_VERSION:-}"
if [ -z "$want" ] || [ "$want" = "$default_version" ]; then
  mod="$here/vaultbin"
else
  mod="$here/vaultbin-$want"
  if [ ! -f "$mod/go.mod" ]; then
    known="$default_version"
    for d in "$here"/vaultbin-*/; do
      [ -f "$d/go.mod" ] && known="$known $(basename "$d" | sed 's/^vaultbin-//')"
    done
    echo "vault.sh: no Vault $want here; VAULT_VERSION may be one of: $known" >&2
    echo "vault.sh: (another version needs a tool module at scripts/vaultbin-<version>/, made like scripts/vaultbin/)" >&2
    exit 1
  fi
fi
version="$(required_version "$mod")"
[ -n "$version" ] || { echo "vault.sh: cannot read Vault's version from $mod/go.mod" >&2; exit 1; }
if [ -n "$want" ] && [ "$version" != "$want" ]; then
  echo "vault.sh: $mod/go.mod requires Vault $version, not $want" >&2
  exit 1
fi

# make dev links bin/vault to the server it last ran (OpenBao under make
# test-openbao, another Vault under VAULT_VERSION) and prints a PATH line
# that finds it: that link is never taken, nor a `vault` that is not Vault.
own_bin="$(cd "$here/../bin" 2>/dev/null && pwd -P || true)"
if [ -z "${VAULT_FROM_SOURCE:-}" ]; then
  while IFS= read -r path_vault; do
    [ -n "$own_bin" ] && [ "$(cd "$(dirname "$path_vault")" && pwd -P)" = "$own_bin" ] && continue
    # `vault version` prints "Vault v1.21.0, built ..." (or "Vault v1.21.0 (<commit>), built ...").
    got="$("$path_vault" version 2>/dev/null | awk 'NR == 1 && $1 == "Vault" {sub(/,$/, "", $2); print $2}')"
    [ -n "$got" ] || continue
    if [ -z "$want" ] || [ "$got" = "$want" ]; then
      echo "$path_vault"
      exit 0
    fi
  done < <(type -aP vault || true)
fi

stamp="$(cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-vendor/vault-$version"
bin="$cache/vault"

if [ -x "$bin" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
echo "vault.sh: building Vault $version from its Go module ($mod) into $cache" >&2
echo "vault.sh: the first build takes 12-18 minutes and ~4 GB of module downloads; later runs reuse it" >&2
start=$(date +%s)
(cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath -ldflags='-s -w' -o "$bin.tmp.$$" .) >&2
mv -f "$bin.tmp.$$" "$bin"
echo "$stamp" > "$cache/stamp"
echo "vault.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
