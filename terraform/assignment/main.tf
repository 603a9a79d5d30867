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

  name             = local.name
  keep_last_images = var.ecr_keep_last_images
  force_delete     = var.force_destroy
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

module "iam" {
  source = "../modules/iam"

  role_name                 = "${local.name}-lambda"
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
}

module "lambda" {
  source = "../modules/lambda"

  function_name                  = local.name
  image_uri                      = "${module.ecr_repo.repository_url}:${var.image_tag}"
  execution_role_arn             = module.iam.role_arn
  memory_size                    = var.lambda_memory_size
  timeout                        = var.lambda_timeout
  reserved_concurrent_executions = var.lambda_reserved_concurrency
  log_retention_in_days          = var.log_retention_in_days

  input_bucket_name = module.s3.input_bucket_name
  input_bucket_arn  = module.s3.input_bucket_arn
  input_prefix      = var.input_prefix

  output_bucket_name    = module.s3.output_bucket_name
  output_prefixes       = var.output_prefixes
  glue_database_name    = module.glue_athena.database_name
  glue_table_name       = var.glue_table_name
  report_engine         = var.report_engine
  athena_workgroup_name = module.glue_athena.workgroup_name
  max_object_bytes      = var.max_object_bytes
  max_reject_ratio      = var.max_reject_ratio
  log_level             = var.log_level
}
