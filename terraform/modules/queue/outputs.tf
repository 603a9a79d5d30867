output "queue_name" {
  description = "Name of the input queue."
  value       = aws_sqs_queue.input.name
}

output "queue_arn" {
  description = "ARN of the input queue (its policy is part of the queue, so an S3 notification created from it passes S3's check that it may send)."
  value       = aws_sqs_queue.input.arn
}

output "queue_url" {
  description = "URL of the input queue."
  value       = aws_sqs_queue.input.url
}

output "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.name
}

output "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.arn
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dead_letter.url
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the input queue."
  value       = aws_sqs_queue.input.visibility_timeout_seconds
}
