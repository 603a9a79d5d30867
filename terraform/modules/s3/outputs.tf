output "input_bucket_name" {
  description = "Name of the input bucket."
  value       = aws_s3_bucket.input.id
}

output "input_bucket_arn" {
  description = "ARN of the input bucket."
  value       = aws_s3_bucket.input.arn
}

output "output_bucket_name" {
  description = "Name of the output bucket."
  value       = aws_s3_bucket.output.id
}

output "output_bucket_arn" {
  description = "ARN of the output bucket."
  value       = aws_s3_bucket.output.arn
}

output "athena_results_bucket_name" {
  description = "Name of the Athena results bucket."
  value       = aws_s3_bucket.athena_results.id
}

output "athena_results_bucket_arn" {
  description = "ARN of the Athena results bucket."
  value       = aws_s3_bucket.athena_results.arn
}
