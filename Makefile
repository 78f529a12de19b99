# peerhub's build, code generation, checks and deployment.
# Two commands matter on a fresh machine: `make demo` (run it) and
# `make test` (everything CI checks; .ci/run calls it).

SHELL := /bin/bash
GO ?= go
BUF := $(GO) tool -modfile=tools/go.mod buf
STATICCHECK := $(GO) tool -modfile=tools/go.mod staticcheck
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/peerhub/peerhub/internal/buildinfo.version=$(VERSION) -X github.com/peerhub/peerhub/internal/buildinfo.commit=$(COMMIT)
# The Compose tool may be the docker compose plugin or the older docker-compose.
COMPOSE_TOOL := $(shell if docker compose version >/dev/null 2>&1; then echo "docker compose"; elif command -v docker-compose >/dev/null 2>&1; then echo docker-compose; fi)
COMPOSE_PROJECT ?= peerhub
COMPOSE := $(COMPOSE_TOOL) -p $(COMPOSE_PROJECT)
GOTEST_FLAGS ?= -race -timeout 30m

.PHONY: all build generate third_party lint fmt-check vet staticcheck tidy-check buf-lint check-generated test unit test-postgres breaking demo up down image clean bench bench-go

all: build

## build: the static peerhub binary in bin/ (CGO_ENABLED=0)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/peerhub .

## third_party: print the imported third-party .proto files from their Go modules
third_party:
	cd tools && $(GO) run ./protodump -out ../third_party

## generate: regenerate gen/ from proto/ (local plugins only, no network), API documents included
generate: third_party
	rm -rf gen
	$(BUF) generate
	$(BUF) build proto --as-file-descriptor-set --exclude-imports -o gen/apidocs/descriptors.binpb
	cd tools && $(GO) run ./apidocs -dir ../gen/apidocs

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# staticcheck: unused code, simplifications and bug patterns vet does not
# look for (honnef.co/go/tools, pinned in tools/go.mod; default checks).
staticcheck:
	$(STATICCHECK) ./...

tidy-check:
	$(GO) mod tidy -diff

buf-lint: third_party
	$(BUF) lint
	$(BUF) format --diff --exit-code proto

## lint: gofmt, go vet, staticcheck, go.mod tidiness, buf lint and buf format
lint: fmt-check vet staticcheck tidy-check buf-lint

## check-generated: gen/ must be exactly what `make generate` makes
check-generated: generate
	@git diff --exit-code -- gen || { echo "gen/ is stale: run make generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- gen)" || { git status --porcelain -- gen; echo "gen/ has untracked files: run make generate and commit"; exit 1; }

## unit: go test -race ./...
# The tools tests run (grpcurl, buf) are built first, once: a test that
# starts one would otherwise wait for its first build, which on a cold,
# loaded machine can outlast the test's wait for the tool's first answer.
unit:
	$(GO) tool -modfile=tools/go.mod grpcurl -version >/dev/null
	$(BUF) --version >/dev/null
	GORACE=atexit_sleep_ms=0 $(GO) test $(GOTEST_FLAGS) ./...

## test: everything CI runs (the PostgreSQL tests skip without PEERHUB_TEST_POSTGRES, except under CI=true)
test: lint check-generated unit

## test-postgres: the PostgreSQL store's and the replicas' tests on a throwaway server (.ci/postgres.sh; installs PostgreSQL as root if missing)
test-postgres:
	source .ci/postgres.sh && \
	$(GO) test $(GOTEST_FLAGS) ./server/store/postgres/... && \
	$(GO) test $(GOTEST_FLAGS) -run Replica ./e2e/

## breaking: buf breaking against the previous commit (BREAKING_AGAINST=ref to change)
BREAKING_AGAINST ?= HEAD~1
breaking: third_party
	@tmp=$$(mktemp -d); trap 'git worktree remove --force $$tmp/src >/dev/null 2>&1; rm -rf $$tmp' EXIT; \
	git worktree add --detach $$tmp/src $(BREAKING_AGAINST) >/dev/null && \
	cp -r third_party $$tmp/src/ && \
	(cd $$tmp/src && $(BUF) build -o $$tmp/against.binpb) && \
	$(BUF) breaking --against $$tmp/against.binpb

## demo: a directory and three peers on 127.0.0.1:8000-8003, no Docker
demo:
	$(GO) run . demo

## image: the FROM scratch container image peerhub:latest
image: build
	docker build -t peerhub:latest .

## up: the compose network (directory + p1, p2, p3, and p4 behind NAT), TLS on, in the background
up: image
	@test -n "$(COMPOSE_TOOL)" || { echo "no docker compose or docker-compose found"; exit 1; }
	$(COMPOSE) up -d
	@echo "waiting for the five containers to be healthy..."
	@for i in $$(seq 1 60); do \
		n=$$(docker inspect -f '{{.State.Health.Status}}' $$($(COMPOSE) ps -q) 2>/dev/null | grep -c '^healthy$$'); \
		[ "$$n" = 5 ] && break; sleep 1; \
	done; [ "$$n" = 5 ] || { $(COMPOSE) ps; echo "not healthy after 60s"; exit 1; }
	@$(COMPOSE) ps
	@echo
	@echo "Try:  $(COMPOSE) exec p1 /peerhub search archivo"
	@echo "      $(COMPOSE) exec p1 /peerhub get archivo1_p2.txt"
	@echo "      $(COMPOSE) exec p1 /peerhub peers             # p4 is RELAYED, every address https://"
	@echo "      $(COMPOSE) exec p1 /peerhub menu"
	@echo "From the host: https://127.0.0.1:8000#$$($(COMPOSE) exec -T directory /peerhub directory pin --data /state)"
	@echo "Stop: make down"

## down: stop the compose network and remove its volumes
down:
	@test -n "$(COMPOSE_TOOL)" || { echo "no docker compose or docker-compose found"; exit 1; }
	$(COMPOSE) down -v --remove-orphans

## bench: the product's benchmarks (docs/BENCHMARKS.md): the built binary against outside baselines; fails if a goal is missed
BENCH_SCRIPTS := bench/directory.sh bench/heartbeat.sh bench/get.sh bench/getmany.sh bench/peer-rss.sh bench/tls.sh bench/relay.sh
bench: build
	@failed=; for s in $(BENCH_SCRIPTS); do echo "== $$s"; ./$$s || failed="$$failed $$s"; echo; done; \
	if [ -n "$$failed" ]; then echo "goal missed or error:$$failed"; exit 1; fi

## bench-go: the Go micro-benchmarks (go test -bench: harnesses, not the product)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin third_party
