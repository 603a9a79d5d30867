output "database_name" {
  description = "Name of the Glue database."
  value       = aws_glue_catalog_database.this.name
}

output "database_arn" {
  description = "ARN of the Glue database."
  value       = aws_glue_catalog_database.this.arn
}

output "table_name" {
  description = "Name of the orders table (created by the function, not by Terraform)."
  value       = var.table_name
}

output "workgroup_name" {
  description = "Name of the Athena workgroup."
  value       = aws_athena_workgroup.this.name
}

output "workgroup_arn" {
  description = "ARN of the Athena workgroup."
  value       = aws_athena_workgroup.this.arn
}

output "results_location" {
  description = "S3 location of the workgroup's query results (enforced for every client)."
  value       = "s3://${var.results_bucket_name}/${var.results_prefix}"
}

output "named_query_ids" {
  description = "IDs of the saved queries, by name."
  value       = { for f, q in aws_athena_named_query.this : trimsuffix(f, ".sql") => q.id }
}

output "view_names" {
  description = "Athena views created in the Glue Data Catalog (one per file of queries_dir/views)."
  value       = sort(keys(aws_glue_catalog_table.view))
}

output "analyst_policy_arn" {
  description = "ARN of the analysts' managed policy: attach it to an analyst's role or user, or to a BI service role."
  value       = var.create_analyst_policy ? aws_iam_policy.analyst[0].arn : null
}
