data "aws_caller_identity" "current" {}

locals {
  name       = "${var.project}-${var.candidate_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id

  # Bucket names are global: the account id keeps two accounts' stacks apart.
  input_bucket_name          = "${local.name}-${local.account_id}-input"
  output_bucket_name         = "${local.name}-${local.account_id}-output"
  athena_results_bucket_name = "${local.name}-${local.account_id}-athena"
}

module "ecr_repo" {
  source = "../modules/ecr-repo"

  name                       = local.name
  untagged_image_expiry_days = var.ecr_untagged_image_expiry_days
  force_delete               = var.force_destroy
}

module "s3" {
  source = "../modules/s3"

  input_bucket_name              = local.input_bucket_name
  output_bucket_name             = local.output_bucket_name
  athena_results_bucket_name     = local.athena_results_bucket_name
  force_destroy                  = var.force_destroy
  athena_results_expiration_days = var.athena_results_expiration_days
}

module "glue_athena" {
  source = "../modules/glue-athena"

  database_name                  = var.glue_database_name
  table_name                     = var.glue_table_name
  workgroup_name                 = local.name
  results_bucket_name            = module.s3.athena_results_bucket_name
  bytes_scanned_cutoff_per_query = var.athena_bytes_scanned_cutoff
  force_destroy                  = var.force_destroy
  queries_dir                    = "${path.module}/../../queries"
  dataset_bucket_name            = module.s3.output_bucket_name
  dataset_prefix                 = var.output_prefixes.dataset
}

# delivery = "queue" (the default): the buffer between the input bucket and the function.
module "queue" {
  source = "../modules/queue"
  count  = var.delivery == "queue" ? 1 : 0

  name             = "${local.name}-input"
  input_bucket_arn = module.s3.input_bucket_arn
  # AWS's rule for Lambda event sources: at least six times the function
  # timeout, plus the time the mapping may wait to fill a batch.
  visibility_timeout_seconds    = 6 * var.lambda_timeout + var.queue_batching_window_seconds
  max_receive_count             = var.queue_max_receive_count
  message_retention_seconds     = var.queue_retention_seconds
  dead_letter_retention_seconds = var.dead_letter_retention_seconds
}

module "iam" {
  source = "../modules/iam"

  role_name                 = "${local.name}-lambda"
  permissions_boundary_arn  = var.permissions_boundary_arn
  input_bucket_arn          = module.s3.input_bucket_arn
  input_prefix              = var.input_prefix
  output_bucket_arn         = module.s3.output_bucket_arn
  output_prefixes           = values(var.output_prefixes)
  glue_database_name        = module.glue_athena.database_name
  glue_table_name           = var.glue_table_name
  grant_athena              = var.report_engine == "athena"
  athena_workgroup_name     = module.glue_athena.workgroup_name
  athena_results_bucket_arn = module.s3.athena_results_bucket_arn
  log_group_arn             = module.lambda.log_group_arn
  failure_queue_arn         = module.lambda.failure_queue_arn
  grant_input_queue         = var.delivery == "queue"
  input_queue_arn           = one(module.queue[*].queue_arn)
}

module "lambda" {
  source = "../modules/lambda"

  function_name                  = local.name
  image_uri                      = "${module.ecr_repo.repository_url}:${var.image_tag}"
  execution_role_arn             = module.iam.execution_role_arn
  memory_size                    = var.lambda_memory_size
  timeout                        = var.lambda_timeout
  ephemeral_storage_size         = var.lambda_ephemeral_storage_size
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  maximum_retry_attempts         = var.lambda_maximum_retry_attempts
  maximum_event_age_in_seconds   = var.lambda_maximum_event_age_seconds
  log_retention_in_days          = var.log_retention_in_days

  input_bucket_name = module.s3.input_bucket_name
  input_bucket_arn  = module.s3.input_bucket_arn
  input_prefix      = var.input_prefix
  input_suffixes    = var.input_suffixes

  delivery                           = var.delivery
  input_queue_arn                    = one(module.queue[*].queue_arn)
  batch_size                         = var.queue_batch_size
  maximum_batching_window_in_seconds = var.queue_batching_window_seconds
  maximum_concurrency                = var.queue_max_concurrency

  output_bucket_name    = module.s3.output_bucket_name
  output_prefixes       = var.output_prefixes
  glue_database_name    = module.glue_athena.database_name
  glue_table_name       = var.glue_table_name
  report_engine         = var.report_engine
  athena_workgroup_name = module.glue_athena.workgroup_name
  max_object_bytes      = var.max_object_bytes
  max_reject_ratio      = var.max_reject_ratio
  log_level             = var.log_level
  metrics_namespace     = var.metrics_namespace
  service_name          = var.service_name
}

module "monitoring" {
  source = "../modules/monitoring"

  name                     = local.name
  function_name            = module.lambda.function_name
  function_timeout_seconds = var.lambda_timeout
  delivery                 = var.delivery
  input_queue_name         = one(module.queue[*].queue_name)
  # Static labels (they name the alarms); the queues that exist in this delivery mode.
  failure_queue_names = merge(
    { "failed-events" = module.lambda.failure_queue_name },
    var.delivery == "queue" ? { "dead-letters" = module.queue[0].dead_letter_queue_name } : {},
  )
  metrics_namespace             = var.metrics_namespace
  service_name                  = var.service_name
  alarm_emails                  = var.alarm_emails
  backlog_age_threshold_seconds = var.backlog_age_alarm_seconds
  files_rejected_threshold      = var.files_rejected_alarm_threshold
}
