# The buffer between the input bucket and the function (delivery = "queue"):
#
#   input bucket --(ObjectCreated, one message per object)--> <name> --(event source mapping)--> function
#                                                                |
#                                        after max_receive_count receives
#                                                                v
#                                                          <name>-dlq
#
# The notification that sends to the queue and the event source mapping that
# reads it live in the lambda module, next to the function.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  # The input queue's ARN, known before it exists, so its policy is part of the
  # queue itself: S3 can send from the moment the queue exists, and creating the
  # queue and its policy is one step, not two.
  input_queue_arn = "arn:${data.aws_partition.current.partition}:sqs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:${var.name}"
}

# Messages that failed max_receive_count deliveries, with their original body
# (the S3 notification), ready to be inspected and redriven.
resource "aws_sqs_queue" "dead_letter" {
  #checkov:skip=CKV2_AWS_73: SQS-managed SSE encrypts the queue at rest; a customer-managed KMS key would need key-policy statements for S3 and kms:Decrypt for the function, for no gain on S3 event records (bucket, key, size, ETag).
  name                      = "${var.name}-dlq"
  message_retention_seconds = var.dead_letter_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

resource "aws_sqs_queue" "input" {
  #checkov:skip=CKV2_AWS_73: SQS-managed SSE encrypts the queue at rest, and S3 can publish to it without a key policy (a customer-managed key would need one for S3 and kms:Decrypt for the function); the messages are S3 event records, not order data.
  name = var.name

  # A message is invisible while the function works on it; AWS's rule for Lambda
  # event sources is at least six times the function timeout (plus the batching
  # window), so a slow or retried invocation never has its messages redelivered
  # to a second one halfway through.
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  sqs_managed_sse_enabled    = true

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })

  policy = data.aws_iam_policy_document.input.json

  tags = var.tags
}

# The queue's resource policy admits one sender: S3, on behalf of the input
# bucket of this account (aws:SourceArn and aws:SourceAccount, AWS's
# confused-deputy guard). The function reads the queue with its execution
# role's IAM permissions (terraform/modules/iam, queue.tf); operators who
# replay messages do so with their own IAM permissions.
data "aws_iam_policy_document" "input" {
  statement {
    sid       = "InputBucketSendsEvents"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [local.input_queue_arn]

    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [var.input_bucket_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}


# Advice, not an error: a message moved to the dead-letter queue keeps its
# original enqueue time, so a dead-letter retention no longer than the input
# queue's can delete a dead letter soon after it arrives.
check "dead_letters_outlive_the_input_queue" {
  assert {
    condition     = var.dead_letter_retention_seconds > var.message_retention_seconds
    error_message = "dead_letter_retention_seconds (${var.dead_letter_retention_seconds}) should exceed message_retention_seconds (${var.message_retention_seconds}): SQS counts a dead letter's retention from its first enqueue."
  }
}
