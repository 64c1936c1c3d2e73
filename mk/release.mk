# One version names a release everywhere: the chart's appVersion is the image tag (the chart's
# default `image.tag`), the package version in pyproject.toml, the tag `v<version>` that makes
# .github/workflows/release.yml publish, and what `make image` and docker compose build.
# tests/unit/test_release_version.py fails when one of them drifts.

CHART_YAML := charts/sre-ai-platform/Chart.yaml
APP_VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$$/\1/p' $(CHART_YAML))
# Where `make image-push` sends it: your registry (README, "Build and push the image"). The
# default is the chart's default repository, what `kind load docker-image` needs.
IMAGE_REPOSITORY ?= sre-ai-platform
IMAGE ?= $(IMAGE_REPOSITORY):$(APP_VERSION)
WORKFLOWS := $(wildcard .github/workflows/*.yml)

##@ Release

.PHONY: app-version
app-version: ## Print the version (Chart.yaml appVersion): the image tag.
	@echo $(APP_VERSION)

.PHONY: image
image: ## Build the service image IMAGE (IMAGE_REPOSITORY:appVersion; BASE_IMAGE=... without Docker Hub).
	$(DOCKER_BUILD) --build-arg VERSION=$(APP_VERSION) -t $(IMAGE) .

.PHONY: image-push
image-push: ## Push IMAGE to its registry (after `docker login`; multi-arch images come from the release workflow).
	docker push $(IMAGE)

.PHONY: workflow-lint
workflow-lint: ## actionlint the GitHub Actions workflows (tools/install-actionlint.sh builds it once).
	"$$(tools/install-actionlint.sh)" -no-color $(WORKFLOWS)
