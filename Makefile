# Kizuna developer tasks. `make help` lists them.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help build test bench demo fuzz lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/kizuna
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/kizuna ./cmd/kizuna

test: ## run every test with the race detector (local Postgres, private redis-servers)
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m ./...

bench: ## run the benchmarks (roster import, rendering, sending) and print their tables
	$(GO) test -run '^$$' -bench . -skip CampaignStartToLastMessage -benchtime 1x -timeout 30m ./...
	$(GO) test -run '^$$' -bench CampaignStartToLastMessage -benchtime 1x -count 3 -timeout 30m ./worker

demo: ## import the example roster into a demo database and send an example campaign
	bash scripts/demo.sh

fuzz: ## fuzz each parser of untrusted input for 30 s
	$(GO) test -run '^$$' -fuzz FuzzReadRoster -fuzztime 30s ./internal/roster
	$(GO) test -run '^$$' -fuzz FuzzLoadCampaign -fuzztime 30s ./campaigns
	$(GO) test -run '^$$' -fuzz FuzzClassify -fuzztime 30s ./internal/inbound/classify
	$(GO) test -run '^$$' -fuzz FuzzParseBounce -fuzztime 30s ./internal/inbound/classify

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

clean: ## stop the demo's throwaway servers and remove them and the build output
	-bash scripts/demo.sh stop
	rm -rf bin .dev demo-out
