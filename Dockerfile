# Lambda container image of the orders analytics pipeline, for arm64 (Graviton).
#
#   docker buildx build --platform linux/arm64 --provenance=false -t <repo>:<tag> --load .
#   (or: make image-build IMAGE_TAG=<tag>)
#
# The arm64 variant of the AWS Lambda Python 3.12 base image; build with
# --platform linux/arm64 (on an x86 machine that needs QEMU/binfmt for the RUN
# step). --provenance=false keeps the pushed manifest a plain image, which
# Lambda requires. To pin the base by digest:
#   --build-arg BASE_IMAGE=public.ecr.aws/lambda/python@sha256:<arm64 digest>
#
# Only the pinned runtime dependencies (requirements/lambda.txt), the
# lambda_app package and the SQL in queries/ (read from $LAMBDA_TASK_ROOT/queries
# when REPORT_ENGINE=athena) go in: no tests, no dev tools (.dockerignore
# allow-lists the build context).
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12-arm64
FROM ${BASE_IMAGE}

# Dependencies first, so a code-only change reuses this layer.
COPY requirements/lambda.txt ${LAMBDA_TASK_ROOT}/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check --requirement "${LAMBDA_TASK_ROOT}/requirements.txt"

COPY queries/ ${LAMBDA_TASK_ROOT}/queries/
COPY lambda_app/ ${LAMBDA_TASK_ROOT}/lambda_app/

CMD ["lambda_app.handler.lambda_handler"]
