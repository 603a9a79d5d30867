data "aws_caller_identity" "current" {}

locals {
  environment = merge(var.extra_environment_variables, {
    OUTPUT_BUCKET    = var.output_bucket_name
    GLUE_DATABASE    = var.glue_database_name
    GLUE_TABLE       = var.glue_table_name
    REPORT_ENGINE    = var.report_engine
    ATHENA_WORKGROUP = var.athena_workgroup_name
    MAX_OBJECT_BYTES = tostring(var.max_object_bytes)
    MAX_REJECT_RATIO = tostring(var.max_reject_ratio)
    LOG_LEVEL        = var.log_level
    DATASET_PREFIX   = var.output_prefixes.dataset
    REPORTS_PREFIX   = var.output_prefixes.reports
    REJECTS_PREFIX   = var.output_prefixes.rejects
    ERRORS_PREFIX    = var.output_prefixes.errors
    RUNS_PREFIX      = var.output_prefixes.runs
    STATE_PREFIX     = var.output_prefixes.state

    # Powertools: the EMF metrics' namespace and the "service" dimension
    # (terraform/modules/monitoring alarms on them), and the logs' service key.
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_SERVICE_NAME      = var.service_name
  })

  # One notification rule per suffix (S3 matches suffixes case-sensitively).
  notification_rules = { for suffix in var.input_suffixes : suffix => "orders${replace(suffix, ".", "-")}-to-${var.function_name}" }
}

# Created before the function so Lambda never creates an unmanaged group
# without retention.
resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts every group at rest; the logs hold bucket, key, counts and durations, never row contents, so a customer-managed key adds a key policy to run and no protection.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_in_days
  tags              = var.tags
}

# Events that still fail after the retries, or that waited in Lambda's queue
# longer than maximum_event_age_in_seconds, land here with the S3 record and
# the error, ready to be inspected and replayed.
resource "aws_sqs_queue" "failures" {
  #checkov:skip=CKV2_AWS_73: SQS-managed SSE encrypts the queue at rest; a customer-managed KMS key would add a key policy (and kms grants for Lambda) for no gain on S3 event records.
  name                      = "${var.function_name}-failures"
  message_retention_seconds = var.failure_queue_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116: A function-level DLQ covers asynchronous invocations only: direct S3 events already go to the on-failure destination (aws_lambda_function_event_invoke_config below, with the error), and queue deliveries to the input queue's redrive DLQ (terraform/modules/queue); a third queue would receive the same failures twice.
  #checkov:skip=CKV_AWS_117: The function reaches only S3, Glue, Athena, CloudWatch Logs and SQS; in a VPC it would need a NAT gateway or five endpoints and would gain no isolation.
  #checkov:skip=CKV_AWS_173: The environment holds bucket names, prefixes and limits, no secrets; Lambda encrypts it at rest with its service key.
  #checkov:skip=CKV_AWS_272: Lambda code signing does not apply to container images; image integrity comes from ECR immutable tags and scan on push.
  function_name = var.function_name
  description   = var.description
  role          = var.execution_role_arn

  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = ["arm64"]

  memory_size = var.memory_size
  timeout     = var.timeout

  ephemeral_storage {
    size = var.ephemeral_storage_size
  }

  # Optional (null: none). Correctness never depends on it: the same key is
  # serialised by the compare-and-swap state and concurrent report refreshes
  # converge (docs/design.md). It reserves capacity and caps every caller;
  # docs/deployment.md, "Concurrency", has the quota rule.
  reserved_concurrent_executions = var.reserved_concurrent_executions

  # PassThrough: no sampling of its own (Active tracing would need
  # xray:PutTraceSegments on "*" in the role); the JSON logs carry bucket,
  # key and duration per run instead.
  tracing_config {
    mode = "PassThrough"
  }

  environment {
    variables = local.environment
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = var.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

# --- Delivery ---------------------------------------------------------------
#
# delivery = "queue" (default): input bucket -> SQS queue -> event source
# mapping -> function; delivery = "direct": input bucket -> asynchronous
# invocation. docs/deployment.md, "Delivery", has the trade-offs.

resource "aws_lambda_permission" "s3" {
  count = var.delivery == "direct" ? 1 : 0

  statement_id   = "AllowInvokeFromInputBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.input_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

# Stacks applied before delivery became a choice had one unconditional permission.
moved {
  from = aws_lambda_permission.s3
  to   = aws_lambda_permission.s3[0]
}

resource "aws_lambda_event_source_mapping" "input_queue" {
  count = var.delivery == "queue" ? 1 : 0

  event_source_arn = var.input_queue_arn
  function_name    = aws_lambda_function.this.arn

  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds

  # The handler answers {"batchItemFailures": [...]} naming only the messages
  # whose files hit a retryable error: the others are deleted, so one bad file
  # never sends a whole batch round again.
  function_response_types = ["ReportBatchItemFailures"]

  # The most concurrent invocations this mapping starts (2-1000; null: as many
  # as the queue and the account allow).
  dynamic "scaling_config" {
    for_each = var.maximum_concurrency == null ? [] : [var.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  lifecycle {
    precondition {
      condition     = var.input_queue_arn != null
      error_message = "delivery = \"queue\" needs input_queue_arn (terraform/modules/queue)."
    }
    precondition {
      condition     = var.batch_size <= 10 || var.maximum_batching_window_in_seconds >= 1
      error_message = "A batch_size above 10 needs maximum_batching_window_in_seconds of at least 1 (a Lambda rule for standard queues)."
    }
    precondition {
      condition     = var.reserved_concurrent_executions == null || var.maximum_concurrency == null ? true : var.maximum_concurrency <= var.reserved_concurrent_executions
      error_message = "maximum_concurrency must not exceed reserved_concurrent_executions: the mapping would start invocations the reservation throttles, and each throttled batch uses up one of the messages' receives."
    }
  }
}

# This resource owns the input bucket's whole notification configuration: one
# rule per suffix, to the queue or to the function. The rules share the prefix
# and event type, which S3 accepts only because no suffix ends with another
# (the variable's validation checks that).
resource "aws_s3_bucket_notification" "input" {
  bucket = var.input_bucket_name

  dynamic "queue" {
    for_each = var.delivery == "queue" ? local.notification_rules : {}
    content {
      id            = queue.value
      queue_arn     = var.input_queue_arn
      events        = ["s3:ObjectCreated:*"]
      filter_prefix = var.input_prefix == "" ? null : var.input_prefix
      filter_suffix = queue.key
    }
  }

  dynamic "lambda_function" {
    for_each = var.delivery == "direct" ? local.notification_rules : {}
    content {
      id                  = lambda_function.value
      lambda_function_arn = aws_lambda_function.this.arn
      events              = ["s3:ObjectCreated:*"]
      filter_prefix       = var.input_prefix == "" ? null : var.input_prefix
      filter_suffix       = lambda_function.key
    }
  }

  # S3 checks that it may deliver when the notification is saved: the invoke
  # permission (direct), or the queue policy (queue: part of the queue itself).
  depends_on = [aws_lambda_permission.s3]
}
