output "execution_role_arn" {
  description = "ARN of the execution role once every inline policy is attached, the input-queue one included: give this to the function, so Lambda's check of the role when the event source mapping is created already sees the queue permissions."
  value       = aws_iam_role.this.arn

  depends_on = [aws_iam_role_policy.this, aws_iam_role_policy.input_queue]
}

output "input_queue_policy_document" {
  description = "The input-queue policy's JSON (null when grant_input_queue is false)."
  value       = var.grant_input_queue ? data.aws_iam_policy_document.input_queue[0].json : null
}
