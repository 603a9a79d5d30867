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
  })
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
  #checkov:skip=CKV_AWS_116: Failed S3 events go to the on-failure destination (aws_lambda_function_event_invoke_config below), which carries the error as well as the event; a dead-letter queue as well would receive every failure twice.
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

  # Concurrency control: see docs/deployment.md ("Concurrency").
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

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowInvokeFromInputBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = var.input_bucket_arn
  source_account = data.aws_caller_identity.current.account_id
}

# This resource owns the input bucket's whole notification configuration.
resource "aws_s3_bucket_notification" "input" {
  bucket = var.input_bucket_name

  lambda_function {
    id                  = "orders-csv-to-${var.function_name}"
    lambda_function_arn = aws_lambda_function.this.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.input_prefix == "" ? null : var.input_prefix
    filter_suffix       = var.input_suffix
  }

  # S3 checks that it may invoke the function when the notification is saved.
  depends_on = [aws_lambda_permission.s3]
}
