#!/usr/bin/env bash
# Prints the path of a `vault` binary: the one on PATH if there is one, else
# one built from Vault's Go module (scripts/vaultbin) into the user cache,
# keyed by Vault version and by the tool module's contents, so later runs and
# fresh clones reuse it. A first build takes 8-15 minutes on 2 cores and
# downloads about 4 GB of modules into the Go module cache.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if [ -z "${VAULT_FROM_SOURCE:-}" ] && command -v vault >/dev/null 2>&1; then
  command -v vault
  exit 0
fi

mod="$here/vaultbin"
version="$(awk '$1 == "github.com/hashicorp/vault" || $2 == "github.com/hashicorp/vault" {print $NF}' "$mod/go.mod" | head -n1)"
[ -n "$version" ] || { echo "vault.sh: cannot read Vault's version from $mod/go.mod" >&2; exit 1; }
stamp="$(cat "$mod/go.mod" "$mod/go.sum" "$mod/main.go" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vault-plugin-secrets-vendor/vault-$version"
bin="$cache/vault"

if [ -x "$bin" ] && [ "$(cat "$cache/stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache"
echo "vault.sh: building Vault $version from its Go module into $cache" >&2
echo "vault.sh: the first build takes 8-15 minutes and ~4 GB of module downloads; later runs reuse it" >&2
start=$(date +%s)
(cd "$mod" && GOFLAGS=-mod=readonly go build -trimpath -ldflags='-s -w' -o "$bin.tmp.$$" .) >&2
mv -f "$bin.tmp.$$" "$bin"
echo "$stamp" > "$cache/stamp"
echo "vault.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
