# --- Input queue (delivery = "queue"): what the event source mapping does as this role ---
#
# Lambda's poller receives batches, deletes the messages the function did not
# report as failed, and reads the queue's attributes when the mapping is
# created, all with the execution role's permissions (the actions of AWS's
# AWSLambdaSQSQueueExecutionRole, scoped to the one queue). The function's
# code itself makes no SQS call. The queue uses SQS-managed encryption, so no
# kms:Decrypt is needed.
data "aws_iam_policy_document" "input_queue" {
  count = var.grant_input_queue ? 1 : 0

  statement {
    sid    = "PollOwnInputQueue"
    effect = "Allow"
    # iam-used-by: event-source-mapping: Lambda's poller receives, deletes and sizes the batches with the execution role
    actions = [
      "sqs:ReceiveMessage",
      "sqs:DeleteMessage",
      "sqs:GetQueueAttributes",
    ]
    resources = [var.input_queue_arn]
  }

  lifecycle {
    precondition {
      condition     = var.input_queue_arn != null
      error_message = "grant_input_queue needs input_queue_arn."
    }
  }
}

resource "aws_iam_role_policy" "input_queue" {
  count = var.grant_input_queue ? 1 : 0

  name   = "input-queue"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.input_queue[0].json
}
