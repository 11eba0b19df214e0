# The README's commands. `make run` and `make test` are all a fresh machine needs.
.PHONY: run test lint fmt bench build clean docs-check docker-lint image image-check fuzz soak abuse

run: ## start ingress + worker on the embedded defaults, print a token and a curl example
	@scripts/run.sh

test: ## the whole suite against real RabbitMQ and PostgreSQL
	@scripts/test.sh

lint: ## formatting, clippy and unused dependencies, as CI would want them
	cargo fmt --all --check
	@scripts/models.sh # the face engine's native libraries, which clippy compiles against
	cargo clippy --workspace --all-targets -- -D warnings
	command -v cargo-machete >/dev/null || cargo install --locked cargo-machete
	cargo machete

fmt:
	cargo fmt --all

image: ## build the image (deploy/Dockerfile) with docker or buildah; local base images where no registry answers
	@scripts/image.sh build

image-check: ## smoke-test the image: non-root, libraries found, --version, a bad setting exits 2, the models load
	@scripts/image.sh check

docker-lint: ## lint deploy/Dockerfile with hadolint
	@scripts/docker-lint.sh

fuzz: ## schemathesis against the served OpenAPI document (not in CI; FUZZ_EXAMPLES=1500)
	@scripts/fuzz.sh

soak: ## 10 minutes of load at half capacity with broker and database faults (not in CI)
	@scripts/soak.sh

abuse: ## one link's floods against the release build while another user is served (not in CI)
	@scripts/abuse.sh

bench: ## throughput and latency (see README, "Performance")
	@scripts/bench.sh

docs-check: ## validate docs/asyncapi.yaml, docs/schemas/*.json and their examples, the alert rules (promtool), the dashboard, the Kubernetes package (kubectl kustomize + kubernetes-validate) and the API document's generated clients (no cargo)
	@scripts/docs-check.sh

build:
	cargo build --workspace --bins

clean:
	cargo clean
	rm -rf var
