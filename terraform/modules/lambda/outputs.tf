output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.this.arn
}

output "image_uri" {
  description = "Image the function runs."
  value       = aws_lambda_function.this.image_uri
}

output "environment_variables" {
  description = "The function's environment variables."
  value       = local.environment
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "log_group_arn" {
  description = "ARN of the function's CloudWatch log group (no trailing :*)."
  value       = aws_cloudwatch_log_group.this.arn
}

output "failure_queue_arn" {
  description = "ARN of the on-failure destination queue."
  value       = aws_sqs_queue.failures.arn
}

output "failure_queue_url" {
  description = "URL of the on-failure destination queue."
  value       = aws_sqs_queue.failures.url
}

output "event_source_mapping_uuid" {
  description = "UUID of the input queue's event source mapping (null when delivery is \"direct\"): aws lambda update-event-source-mapping --uuid <this> --no-enabled pauses delivery."
  value       = one(aws_lambda_event_source_mapping.input_queue[*].uuid)
}

output "delivery" {
  description = "How S3 events reach the function: \"queue\" or \"direct\"."
  value       = var.delivery
}

output "timeout" {
  description = "Timeout of the function in seconds."
  value       = aws_lambda_function.this.timeout
}

output "failure_queue_name" {
  description = "Name of the on-failure destination queue."
  value       = aws_sqs_queue.failures.name
}
