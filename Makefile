# Alliance Back Office — developer commands.
#   make dev       the whole system on this machine (Temporal + UI, PostgreSQL, worker, API)
#   make test      every check and test, as CI runs them
#   make bench     benchmarks
#   make generate  regenerate sqlc code after changing db/queries or db/migrations

GO        ?= go
TOOL      := $(GO) tool -modfile=tools/go.mod
PKGS      := ./...
BIN       := bin

.PHONY: dev build generate test check fmt-check vet staticcheck workflowcheck sqlc-check deps-check unit bench clean

## dev: build and run the dev stack in the foreground; Ctrl-C stops it.
dev:
	$(GO) build -o $(BIN)/devstack ./cmd/devstack
	./$(BIN)/devstack

## build: the production binary (api, worker, migrate, seed, user).
build:
	$(GO) build -o $(BIN)/backoffice ./cmd/backoffice

## generate: sqlc code in db/dbgen from db/migrations and db/queries.
generate:
	$(TOOL) sqlc generate

## test: static checks, then unit and integration tests (real PostgreSQL and
## Temporal, started by the tests themselves).
test: check
	$(GO) test -count=1 -timeout 30m $(PKGS)

## check: static checks only.
check: fmt-check vet sqlc-check deps-check workflowcheck staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(TOOL) staticcheck $(PKGS)

## workflowcheck: workflow code must be deterministic.
workflowcheck:
	$(TOOL) workflowcheck ./workflows/...

## sqlc-check: generated code must match the SQL.
sqlc-check:
	$(TOOL) sqlc diff

## deps-check: the production binary must not link the Temporal server.
deps-check:
	@if $(GO) list -deps ./cmd/backoffice | grep -q '^go.temporal.io/server'; then \
		echo "cmd/backoffice links go.temporal.io/server: keep the server in dev and test code only"; exit 1; fi

## unit: tests only, no static checks.
unit:
	$(GO) test -count=1 $(PKGS)

## bench: benchmarks. Package bench runs whole processes end to end on the
## make dev stack (embedded Temporal on a SQLite file, PostgreSQL, worker,
## API), a fixed number of times each; the others are micro-benchmarks.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./internal/...
	$(GO) test -run '^$$' -bench . -benchtime 300x -timeout 30m ./bench/

clean:
	rm -rf $(BIN)
