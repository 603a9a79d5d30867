output "role_name" {
  description = "Name of the execution role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the execution role. Depends on the role's policies, so a function created from it can use them at once."
  value       = aws_iam_role.this.arn

  depends_on = [aws_iam_role_policy.this]
}

output "policy_names" {
  description = "Names of the inline policies on the role, one per concern."
  value       = sort(keys(aws_iam_role_policy.this))
}

output "policy_documents" {
  description = "The inline policies' JSON documents, by name (for review and tests)."
  value       = local.policies
}
