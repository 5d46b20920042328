#!/usr/bin/env bash
# Release artefacts, reproducibly.
#
#   scripts/release.sh vX.Y.Z   (make release VERSION=vX.Y.Z)
#       Replaces dist/ with one plugin binary per platform,
#       dist/vault-plugin-secrets-vendor_vX.Y.Z_<os>_<arch>, and dist/SHA256SUMS,
#       which `cd dist && sha256sum -c SHA256SUMS` verifies.
#   scripts/release.sh -check   (make release-check; make test runs it)
#       Builds linux/amd64 the release way twice, here and from a copy of the
#       tree at another path, and fails unless the two are the same bytes.
#       RELEASE_CHECK_FRESH_CACHE=1 gives the second build an empty Go build
#       cache too (minutes instead of seconds).
#
# Same source and same Go toolchain give the same bytes: CGO off, -trimpath (no
# local paths), an empty build id, no VCS stamp (a copy of the source without
# .git builds the same binary), and the Go environment knobs that change code
# generation (GOFLAGS, GOAMD64, GOARM64, GOFIPS140, GOEXPERIMENT) pinned to
# their defaults, whether they come from the shell or the go env file. `go version -m <binary>` shows the Go
# version and flags a binary was built with.
set -euo pipefail
cd "$(dirname "$0")/.."
module=github.com/vendortoken/vault-plugin-secrets-vendor
name=vault-plugin-secrets-vendor
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64"

# build <dir> <version> <goos> <goarch> <out>
# GOFLAGS is set, not emptied: the go command reads an empty one from the
# user's go env file (`go env -w`, GOENV). -buildvcs=false is passed anyway.
build() {
  (cd "$1" && env -u GOEXPERIMENT CGO_ENABLED=0 GOOS="$3" GOARCH="$4" GOAMD64=v1 GOARM64=v8.0 GOFIPS140=off GOFLAGS=-buildvcs=false \
    go build -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X $module.Version=$2" -o "$5" "./cmd/$name")
}

# An unset GOEXPERIMENT is read from the go env file too, and has no neutral
# value to set instead: refuse to build with one set there.
if [ -n "$(env -u GOEXPERIMENT go env GOEXPERIMENT)" ]; then
  echo "release.sh: the go env file ($(go env GOENV)) sets GOEXPERIMENT, which changes the release bytes; unset it (go env -u GOEXPERIMENT)" >&2
  exit 2
fi

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

if [ "${1:-}" = "-check" ]; then
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/vendor-release-check.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  build . v0.0.0 linux amd64 "$tmp/a"
  # The tree as it is now (committed or not), without .git, bin/ or dist/.
  mkdir "$tmp/src"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
  done | tar --null -T - -cf - | tar -C "$tmp/src" -xf -
  if [ -n "${RELEASE_CHECK_FRESH_CACHE:-}" ]; then
    export GOCACHE="$tmp/gocache"
  fi
  build "$tmp/src" v0.0.0 linux amd64 "$tmp/b"
  if ! cmp -s "$tmp/a" "$tmp/b"; then
    echo "release.sh: two builds of the same source differ:" >&2
    sha256 "$tmp/a" "$tmp/b" >&2
    exit 1
  fi
  if grep -qF "$PWD" "$tmp/a" || grep -qF "$tmp/src" "$tmp/b"; then
    echo "release.sh: a build path leaked into the binary" >&2
    exit 1
  fi
  echo "release check: linux/amd64 built twice (here and from a copy at another path) is the same bytes: $(sha256 "$tmp/a" | cut -d' ' -f1)"
  exit 0
fi

version="${1:-}"
if ! [[ "$version" =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
  echo "release.sh: VERSION must look like v1.2.3 (vMAJOR.MINOR.PATCH), not '${version}'" >&2
  exit 2
fi

rm -rf dist.tmp
mkdir dist.tmp
for p in $platforms; do
  goos="${p%/*}" goarch="${p#*/}"
  out="${name}_${version}_${goos}_${goarch}"
  build . "$version" "$goos" "$goarch" "$PWD/dist.tmp/$out"
  echo "built dist/$out"
done
(cd dist.tmp && sha256 "${name}_${version}"_* > SHA256SUMS)
rm -rf dist
mv dist.tmp dist
(cd dist && sha256 -c SHA256SUMS >/dev/null)
echo "dist/SHA256SUMS:"
sed 's/^/  /' dist/SHA256SUMS
echo "Go: $(go version)"
