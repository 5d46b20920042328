# vault-plugin-secrets-vendor
#   make dev    Vault dev server + vendor-sim + plugin + demo roles (Ctrl-C stops all)
#   make test   unit tests (race) and acceptance tests against a real Vault
#               and a 3-node Raft cluster
#   make test-openbao   the same acceptance suite against OpenBao
#               (BAO_BIN=/path/to/bao, else `bao` on PATH)
#   make release VERSION=vX.Y.Z   plugin binaries and SHA256SUMS in dist/
#
# VAULT_VERSION=v1.19.0 (make test, dev, cluster, test-ha, bench) runs that Vault
# instead of the one scripts/vaultbin pins; see scripts/vault.sh.

VERSION ?= v0.1.0
MODULE  := github.com/vendortoken/vault-plugin-secrets-vendor
LDFLAGS := -s -w -X $(MODULE).Version=$(VERSION)
BIN     := bin

export VAULT_VERSION

.PHONY: all build sim test unit acceptance test-openbao test-ha cluster fmt vet dev bench fuzz clean release release-check

all: build

build:
	go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/vault-plugin-secrets-vendor ./cmd/vault-plugin-secrets-vendor

test: vet unit release-check acceptance

unit:
	go test -race -count=1 ./...

acceptance: build
	VERSION=$(VERSION) scripts/acceptance.sh

# The whole acceptance suite (HA, make dev and make cluster one-shots included)
# against the OpenBao server BAO_BIN names, else `bao` on PATH; fails when
# there is none.
test-openbao: build
	SERVER=openbao BAO_BIN=$(BAO_BIN) VERSION=$(VERSION) scripts/acceptance.sh

# A 3-node Raft cluster with the plugin, vendor-sim and demo roles (Ctrl-C stops it).
cluster: build
	go build -trimpath -o $(BIN)/vendor-sim ./cmd/vendor-sim
	VAULT_BIN=$$(scripts/vault.sh) PLUGIN_BIN=$(CURDIR)/$(BIN)/vault-plugin-secrets-vendor SIM_BIN=$(CURDIR)/$(BIN)/vendor-sim \
	  PLUGIN_VERSION=$(VERSION) go run ./scripts/cluster

# The 3-node Raft cluster test alone (make test runs it too).
test-ha: build
	RUN=TestHA VERSION=$(VERSION) scripts/acceptance.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	go vet -tags acceptance ./...

# Benchmarks, not tests: in-process Go benchmarks, then a load run against a
# real Vault dev server with KV-v2 and a no-op plugin as the floors.
bench: build
	VERSION=$(VERSION) scripts/bench.sh

# Each fuzz target explores from its seed corpus for FUZZTIME; `make test`
# runs the seed corpus only.
FUZZTIME ?= 20s
fuzz:
	@set -e; for pkg in . ./client; do \
	  for f in $$(go test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== fuzz $$pkg $$f for $(FUZZTIME)"; \
	    go test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

dev: build
	VERSION=$(VERSION) scripts/dev.sh

# Release binaries for linux and darwin, amd64 and arm64, and SHA256SUMS, in a
# fresh dist/. VERSION must be given (vX.Y.Z), not the default above.
release:
	@if [ "$(origin VERSION)" = "file" ]; then echo "make release: give the version, e.g. make release VERSION=v0.1.0" >&2; exit 2; fi
	scripts/release.sh "$(VERSION)"

# The release build is reproducible: one platform built twice, compared.
release-check:
	scripts/release.sh -check

clean:
	rm -rf $(BIN) dist dist.tmp
