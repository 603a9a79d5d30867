# Lambda container image of the orders analytics pipeline, for arm64 (Graviton).
#
#   docker buildx build --platform linux/arm64 --provenance=false -t <repo>:<tag> --load .
#   (or: make image-build IMAGE_TAG=<tag>)
#
# The arm64 variant of the AWS Lambda Python 3.12 base image; build with
# --platform linux/arm64 (on an x86 machine that needs QEMU/binfmt for the RUN
# steps). --provenance=false keeps the pushed manifest a plain image, which
# Lambda requires.
#
# The base image: the tag moves (AWS republishes it with patches); pin it by
# digest, keeping the tag for the reader (docs/infrastructure.md, "The base image"):
#   docker buildx imagetools inspect public.ecr.aws/lambda/python:3.12-arm64   (its "Digest:" line)
#   (or: crane digest public.ecr.aws/lambda/python:3.12-arm64)
#   --build-arg BASE_IMAGE=public.ecr.aws/lambda/python:3.12-arm64@sha256:<digest>, or that as the default below.
#
# Only the pinned runtime dependencies (requirements/lambda.txt), the
# lambda_app package and the SQL in queries/ (read from $LAMBDA_TASK_ROOT/queries
# when REPORT_ENGINE=athena) go in: no tests, no dev tools (.dockerignore
# allow-lists the build context). tests/runtime runs this layout on Python 3.12
# with awslambdaric and a read-only task root.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12-arm64
FROM ${BASE_IMAGE}

# Dependencies first, so a code-only change reuses this layer.
COPY requirements/lambda.txt ${LAMBDA_TASK_ROOT}/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check --requirement "${LAMBDA_TASK_ROOT}/requirements.txt"

COPY queries/ ${LAMBDA_TASK_ROOT}/queries/
COPY lambda_app/ ${LAMBDA_TASK_ROOT}/lambda_app/
# Lambda runs the image with a read-only task root: without bytecode compiled here, every cold start
# compiles the package and tries (and fails) to write lambda_app/__pycache__. checked-hash: the .pyc is
# checked against the source's hash, not its mtime, so it stays valid whatever timestamps the layer keeps.
RUN python -m compileall -q --invalidation-mode checked-hash "${LAMBDA_TASK_ROOT}/lambda_app"

CMD ["lambda_app.handler.lambda_handler"]
