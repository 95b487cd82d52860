# tx-broadcaster developer entry points. `make` (or `make help`) lists them.
#
# Local tools (MiniStack, anvil, cargo-lambda, checkov, playwright-core, schemathesis) live in .tools/ and are
# installed on first use by scripts/stack.sh; runtime state lives in .dev/.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Ports (override on the command line, e.g. `make dev API_PORT=3001`).
EMULATOR_PORT ?= 4566
ANVIL_PORT ?= 8545
# `make dev`'s second chain (chain id 31338) and the fault proxy in front of the first.
SECOND_ANVIL_PORT ?= 8555
DEV_PROXY_PORT ?= 8556
API_PORT ?= 3000
TEST_EMULATOR_PORT ?= 4599
TEST_ANVIL_PORT ?= 8599
# Where `cargo lambda watch` serves the Lambda runtime API and invokes.
WATCH_PORT ?= 9000
# Lambda CPU for `build-lambdas`: --arm64 (matches infra/) or --x86-64.
LAMBDA_ARCH ?= --arm64
# Extra arguments for `cargo test` in `make test` (e.g. TEST_ARGS="-- --nocapture").
TEST_ARGS ?=
export EMULATOR_PORT ANVIL_PORT SECOND_ANVIL_PORT TEST_EMULATOR_PORT TEST_ANVIL_PORT

STACK := scripts/stack.sh
# cargo finds the `cargo-lambda` subcommand on PATH (zig comes with it in the venv).
CARGO_LAMBDA_BIN := $(CURDIR)/.tools/cargo-lambda/bin
CARGO_LAMBDA := PATH="$(CARGO_LAMBDA_BIN):$$PATH" cargo lambda
# Every function is a crate under functions/: nothing lists them by hand.
FUNCTIONS := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard functions/*/Cargo.toml)))))
LAMBDA_PACKAGES := $(addprefix -p ,$(FUNCTIONS))

# What the local runner and the watched functions see: the dev stack.
DEV_ENV := \
	AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT) \
	AWS_REGION=us-east-1 \
	AWS_ACCESS_KEY_ID=test \
	AWS_SECRET_ACCESS_KEY=test \
	AWS_EC2_METADATA_DISABLED=true

# What devstack provisions and runs on: the first chain's anvil (the default chain), the
# second chain's, and (`make dev` only) the fault proxy in front of the first, its second node.
RUNNER_ENV := \
	RPC_URL=http://127.0.0.1:$(ANVIL_PORT) \
	MORE_CHAIN_URLS=http://127.0.0.1:$(SECOND_ANVIL_PORT)

# (invoke-% is a pattern rule: make skips pattern rules for phony targets, so it is not listed.)
.PHONY: help tools dev stop status test lint build-lambdas watch infra-check clean-dev

help: ## List the targets
	@echo "Usage: make <target> [VAR=value ...]"
	@echo
	@grep -E '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-20s %s\n", $$1, $$2 }'
	@echo
	@echo "Ports: EMULATOR_PORT=$(EMULATOR_PORT) ANVIL_PORT=$(ANVIL_PORT) API_PORT=$(API_PORT)" \
		"TEST_EMULATOR_PORT=$(TEST_EMULATOR_PORT) TEST_ANVIL_PORT=$(TEST_ANVIL_PORT) WATCH_PORT=$(WATCH_PORT)"

tools: ## Install the pinned local tools into .tools/ (idempotent)
	@$(STACK) tools

dev: tools ## Start emulator + anvil (kept running, state in .dev/) and run the local stack in the foreground
	@$(STACK) up dev
	@echo
	@echo "  API:       http://127.0.0.1:$(API_PORT)  (e.g. curl http://127.0.0.1:$(API_PORT)/health)"
	@echo "  Emulator:  http://127.0.0.1:$(EMULATOR_PORT)    anvil: http://127.0.0.1:$(ANVIL_PORT) (chain id 31337, the default)"
	@echo "  Second chain: anvil http://127.0.0.1:$(SECOND_ANVIL_PORT) (chain id 31338)    fault proxy: http://127.0.0.1:$(DEV_PROXY_PORT)"
	@echo "  Ctrl-C stops only this runner; the emulator and anvil keep running (and keep their state)."
	@echo "  'make stop' stops them; 'make clean-dev' also wipes their state."
	@echo
	@exec env $(DEV_ENV) $(RUNNER_ENV) DEV_PROXY_PORT=$(DEV_PROXY_PORT) API_PORT=$(API_PORT) \
		cargo run -p devstack --bin devstack -- run

stop: ## Stop the dev emulator and anvil started by `make dev`
	@$(STACK) down dev

status: ## Show what is running for the dev and test stacks
	@$(STACK) status

test: tools ## Run all tests against a fresh test stack (stopped afterwards, even on failure)
	@scripts/test.sh $(TEST_ARGS)

.PHONY: bench
bench: ## Measure cold start, zip size, handler cost, AWS requests/tx, throughput; writes docs/benchmarks.md
	@scripts/bench.sh $(BENCH_ARGS)

lint: ## cargo fmt --check, clippy with warnings denied, and the feature-drift check
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/feature-drift.sh

build-lambdas: ## Build release Lambda zips into target/lambda/<fn>/bootstrap.zip
	@$(STACK) tools cargo-lambda
	$(CARGO_LAMBDA) build --release $(LAMBDA_ARCH) --output-format zip $(LAMBDA_PACKAGES)

# `cargo lambda watch` emulates the Lambda control plane on WATCH_PORT and runs
# each function (api, signer, broadcaster) on its first invoke. devstack
# provisions the dev stack's resources and writes their names to .dev/lambda.env;
# `stack.sh lambda-env` adds defaults for anything it leaves out.
watch: tools ## Serve the functions with hot reload (cargo lambda watch) against the dev stack
	@$(STACK) up dev
	@env $(DEV_ENV) $(RUNNER_ENV) cargo run -p devstack --bin devstack -- provision --env-file .dev/lambda.env
	@$(STACK) lambda-env dev > .dev/lambda-watch.env
	@echo
	@echo "  Invoke from another terminal:"
	@$(foreach f,$(FUNCTIONS),printf '    make invoke-%-14s # %s\n' '$(f)' '$(call sample_event,$(f))';)
	@echo "  or over HTTP: curl http://127.0.0.1:$(WATCH_PORT)/lambda-url/api/health"
	@echo
	@export PATH="$(CARGO_LAMBDA_BIN):$$PATH" $(DEV_ENV); exec cargo lambda watch \
		--invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT) \
		--env-file .dev/lambda-watch.env

# `cargo lambda invoke` of function $(1) with the event file $(2), against `make watch`.
define invoke
	@$(STACK) tools cargo-lambda
	$(CARGO_LAMBDA) invoke $(1) --data-file $(2) \
		--invoke-address 127.0.0.1 --invoke-port $(WATCH_PORT)
endef

# The sample event of each function: `events/<function>-*.json` (the first, by name), unless
# named here or given as EVENT=….
EVENT_retry := events/retry-direct.json
sample_event = $(or $(EVENT_$(1)),$(firstword $(sort $(wildcard events/$(1)-*.json))))

invoke-%: ## Invoke a watched function with its sample event (e.g. invoke-api; EVENT=events/… for another)
	$(call invoke,$*,$(or $(EVENT),$(call sample_event,$*)))

.PHONY: mutants
mutants: ## Bring each fixed defect back, one at a time, and check its test fails (scripts/mutants; a clean tree)
	python3 scripts/mutants/run.py scripts/mutants/issue-13.json

infra-check: ## Static checks of infra/: checkov (pinned; installs it on first use) with infra/.checkov.yaml
	@$(STACK) tools checkov
	.tools/checkov/bin/checkov -d infra --config-file infra/.checkov.yaml

.PHONY: deploy deploy-local

# `make deploy` builds every function's zip, then applies infra/ with your AWS credentials
# (AWS_PROFILE, AWS_REGION, ...). Values come from infra/terraform.tfvars; TF_ARGS adds
# arguments to `terraform apply` (e.g. TF_ARGS=-auto-approve).
deploy: ## Build the Lambda zips and deploy infra/ to AWS (terraform apply; see docs/deploy.md)
	@command -v terraform >/dev/null 2>&1 || { \
		echo "deploy: terraform is not installed; see https://developer.hashicorp.com/terraform/install (>= 1.6)" >&2; exit 1; }
	@[[ -f infra/terraform.tfvars ]] || echo "deploy: no infra/terraform.tfvars (cp infra/terraform.tfvars.example infra/terraform.tfvars); terraform will ask for the required values" >&2
	@$(MAKE) build-lambdas LAMBDA_PACKAGES="$(patsubst functions/%/Cargo.toml,-p %,$(wildcard functions/*/Cargo.toml))"
	terraform -chdir=infra init -input=false
	terraform -chdir=infra apply \
		-var lambda_architecture=$(if $(filter --x86-64,$(LAMBDA_ARCH)),x86_64,arm64) $(TF_ARGS)

# `make deploy-local` applies a copy of infra/ to LocalStack (EMULATOR_PORT) with tflocal, with
# its own state in .dev/deploy-local/, so it never touches a real deployment's state. The
# functions run in LocalStack's containers and reach anvil at DEPLOY_LOCAL_RPC_URL. The admin
# and WebSocket APIs (API Gateway v2) need LocalStack Pro; WAF and the account's API Gateway
# logging role are left out.
DEPLOY_LOCAL_RPC_URL ?= http://host.docker.internal:$(ANVIL_PORT)
deploy-local: ## Deploy infra/ to LocalStack with tflocal (needs terraform, tflocal and LocalStack on EMULATOR_PORT)
	@missing=(); \
	command -v terraform >/dev/null 2>&1 || missing+=("terraform (https://developer.hashicorp.com/terraform/install)"); \
	command -v tflocal >/dev/null 2>&1 || missing+=("tflocal (pip install terraform-local)"); \
	if [[ $$(curl -s -o /dev/null -w '%{http_code}' -m 3 http://127.0.0.1:$(EMULATOR_PORT)/_localstack/health) == 000 ]]; then \
		missing+=("LocalStack on 127.0.0.1:$(EMULATOR_PORT) (docker compose up -d, or EMULATOR_PORT=<port>)"); fi; \
	if (($${#missing[@]})); then \
		echo "deploy-local: cannot deploy; missing:" >&2; printf '  - %s\n' "$${missing[@]}" >&2; \
		echo "Without them, 'make dev' runs the whole system locally and 'make infra-check' checks infra/." >&2; \
		exit 1; fi
	@$(MAKE) build-lambdas LAMBDA_ARCH=$(if $(filter aarch64 arm64,$(shell uname -m)),--arm64,--x86-64) \
		LAMBDA_PACKAGES="$(patsubst functions/%/Cargo.toml,-p %,$(wildcard functions/*/Cargo.toml))"
	@mkdir -p .dev/deploy-local && rm -f .dev/deploy-local/*.tf && cp infra/*.tf .dev/deploy-local/
	cd .dev/deploy-local && export AWS_ENDPOINT_URL=http://127.0.0.1:$(EMULATOR_PORT) \
		AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test; \
		tflocal init -input=false && tflocal apply -input=false -auto-approve \
		-var chain_id=31337 -var rpc_url=$(DEPLOY_LOCAL_RPC_URL) \
		-var target_contract=0x7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a \
		-var lambda_zip_dir=$(CURDIR)/target/lambda \
		-var lambda_architecture=$(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64) \
		-var waf_enabled=false -var manage_api_gateway_account=false -var deletion_protection=false \
		$(TF_ARGS)

clean-dev: stop ## Stop the dev stack and delete .dev/ (all local state)
	rm -rf .dev
