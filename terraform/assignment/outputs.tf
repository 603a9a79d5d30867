output "region" {
  description = "AWS region of the stack."
  value       = var.region
}

output "ecr_repository_url" {
  description = "Where to push the Lambda image: docker tag ... <this>:<tag>."
  value       = module.ecr_repo.repository_url
}

output "input_bucket_name" {
  description = "Upload order CSVs here (under input_prefix, with a .csv suffix)."
  value       = module.s3.input_bucket_name
}

output "output_bucket_name" {
  description = "Dataset, reports, rejects, run manifests, error records and state."
  value       = module.s3.output_bucket_name
}

output "athena_results_bucket_name" {
  description = "Athena query results (expired by lifecycle)."
  value       = module.s3.athena_results_bucket_name
}

output "athena_results_location" {
  description = "S3 output location enforced by the workgroup (for a BI tool's S3OutputLocation setting)."
  value       = module.glue_athena.results_location
}

output "function_name" {
  description = "Name of the Lambda function."
  value       = module.lambda.function_name
}

output "lambda_role_arn" {
  description = "Execution role of the function."
  value       = module.iam.role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = module.lambda.log_group_name
}

output "failure_queue_url" {
  description = "SQS queue holding asynchronous events (delivery = \"direct\", or replays with --invocation-type Event) that failed after Lambda's retries or aged out."
  value       = module.lambda.failure_queue_url
}

output "delivery" {
  description = "How S3 events reach the function: \"queue\" or \"direct\"."
  value       = var.delivery
}

output "input_queue_url" {
  description = "delivery = \"queue\": the queue S3 events wait in until the function takes them (null with direct delivery)."
  value       = one(module.queue[*].queue_url)
}

output "dead_letter_queue_url" {
  description = "delivery = \"queue\": messages that failed queue_max_receive_count deliveries (null with direct delivery)."
  value       = one(module.queue[*].dead_letter_queue_url)
}

output "event_source_mapping_uuid" {
  description = "delivery = \"queue\": the event source mapping (pause it with aws lambda update-event-source-mapping --uuid ... --no-enabled)."
  value       = module.lambda.event_source_mapping_uuid
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (encrypted with its own KMS key)."
  value       = module.monitoring.topic_arn
}

output "alarm_names" {
  description = "CloudWatch alarm names, by what they watch."
  value       = module.monitoring.alarm_names
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pipeline."
  value       = module.monitoring.dashboard_name
}

output "dashboard_url" {
  description = "Console address of the dashboard."
  value       = module.monitoring.dashboard_url
}

output "glue_database_name" {
  description = "Glue database of the orders table."
  value       = module.glue_athena.database_name
}

output "glue_table_name" {
  description = "Glue table the function creates and loads."
  value       = module.glue_athena.table_name
}

output "athena_workgroup_name" {
  description = "Athena workgroup for reports and BI tools."
  value       = module.glue_athena.workgroup_name
}

output "athena_named_query_ids" {
  description = "Saved queries (one per file in queries/), by name."
  value       = module.glue_athena.named_query_ids
}

output "athena_view_names" {
  description = "Athena views in the Glue Data Catalog, next to the table (for BI tools)."
  value       = module.glue_athena.view_names
}

output "analyst_policy_arn" {
  description = "Managed policy for analysts and BI services: query through the workgroup, read the dataset and views only."
  value       = module.glue_athena.analyst_policy_arn
}

output "input_prefix" {
  description = "The key prefix uploads go under (empty: the whole input bucket); read by orders-analytics status/smoke."
  value       = var.input_prefix
}
