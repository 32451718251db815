# usermgmt: `make run` serves the embedded default on :3011; `make test` runs
# everything against the real Postgres and Redis on this machine.
GO            ?= go
GOLANGCI_VER  := v2.15.0
GOLANGCI      := $(CURDIR)/.bin/golangci-lint
MODULES       := . ./apps
export USERMGMT_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
export USERMGMT_TEST_VALKEY_ADDR  ?= 127.0.0.1:6379

.PHONY: run build test test-short test-race lint vet fmt tidy bench services tools gowork-off clean

run: build
	./bin/server

build:
	$(GO) build -o bin/server ./apps/server
	$(GO) build -o bin/worker ./apps/worker
	$(GO) build -o bin/consumer ./apps/consumer

## test: vet, lint, the module builds without go.work, and every test with -race
test: vet lint gowork-off test-race

test-race:
	$(GO) test -race -count=1 -timeout 15m ./... ./apps/...

test-short:
	$(GO) test -short -count=1 ./... ./apps/...

vet:
	$(GO) vet ./... ./apps/...

lint: $(GOLANGCI)
	$(GOLANGCI) run ./... 
	cd apps && $(GOLANGCI) run --config ../.golangci.yml ./...
	$(GOLANGCI) run --config .golangci-core.yml ./core/...

$(GOLANGCI):
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

tools: $(GOLANGCI)

## gowork-off: consumers never see go.work, so each module must build alone
gowork-off:
	GOWORK=off $(GO) build ./...
	cd apps && GOWORK=off $(GO) build ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy
	cd apps && $(GO) mod tidy

## bench: start the real server and drive it; prints figures and ratios
bench: build
	$(GO) run ./apps/bench -server bin/server

## services: start Postgres and Redis if they are down (CI and fresh machines)
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done

clean:
	rm -rf bin data
