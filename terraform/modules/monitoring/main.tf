# Alarms on the pipeline's failure signals, an encrypted SNS topic they notify
# (on ALARM and back to OK), and one dashboard with the same figures. What each
# alarm means and what to do: docs/deployment.md, "Alarms".

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  function_dimensions = { FunctionName = var.function_name }
  service_dimensions  = { service = var.service_name }
  timeout_ms          = var.function_timeout_seconds * 1000

  # Every alarm: one metric, one statistic, "greater than threshold" for one period.
  failure_queue_alarms = {
    for label, queue in var.failure_queue_names : label => {
      description = "Queue ${queue} holds events that failed for good (${var.function_name}). Read the messages, fix the cause, replay them: docs/deployment.md, Alarms."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      dimensions  = { QueueName = queue }
      threshold   = 0
    }
  }

  backlog_alarm = var.delivery == "queue" ? {
    description = "The oldest message in ${coalesce(var.input_queue_name, "the input queue")} is older than ${var.backlog_age_threshold_seconds} s: ${var.function_name} is not keeping up, paused, or retrying a message. docs/deployment.md, Alarms."
    namespace   = "AWS/SQS"
    metric      = "ApproximateAgeOfOldestMessage" # seconds
    statistic   = "Maximum"
    dimensions  = { QueueName = coalesce(var.input_queue_name, "unset") }
    threshold   = var.backlog_age_threshold_seconds
    } : {
    description = "An S3 event waited more than ${var.backlog_age_threshold_seconds} s in Lambda's asynchronous queue for ${var.function_name} (throttling or retries); events older than the maximum event age go to the failure queue. docs/deployment.md, Alarms."
    namespace   = "AWS/Lambda"
    metric      = "AsyncEventAge" # milliseconds
    statistic   = "Maximum"
    dimensions  = local.function_dimensions
    threshold   = var.backlog_age_threshold_seconds * 1000
  }

  alarms = merge(local.failure_queue_alarms, {
    "backlog-age" = local.backlog_alarm
    "errors" = {
      description = "${var.function_name} raised errors (a crash, a timeout, or a direct event whose records failed and will be retried). Read the log group's ERROR lines. docs/deployment.md, Alarms."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      statistic   = "Sum"
      dimensions  = local.function_dimensions
      threshold   = var.errors_threshold
    }
    "throttles" = {
      description = "Invocations of ${var.function_name} were throttled: reserved concurrency or the account's concurrency is exhausted. docs/deployment.md, Concurrency."
      namespace   = "AWS/Lambda"
      metric      = "Throttles"
      statistic   = "Sum"
      dimensions  = local.function_dimensions
      threshold   = var.throttles_threshold
    }
    "duration" = {
      description = "An invocation of ${var.function_name} ran longer than ${floor(var.duration_alarm_ratio * 100)}% of its ${var.function_timeout_seconds} s timeout: larger files or batches are close to timing out. docs/deployment.md, Alarms."
      namespace   = "AWS/Lambda"
      metric      = "Duration" # milliseconds
      statistic   = "Maximum"
      dimensions  = local.function_dimensions
      threshold   = floor(var.duration_alarm_ratio * local.timeout_ms)
    }
    "files-rejected" = {
      description = "${var.function_name} rejected input files (wrong columns, unreadable, too large or too many bad rows): their error records are under errors/ in the output bucket. Fix the file and upload it again. docs/deployment.md, Alarms."
      namespace   = var.metrics_namespace
      metric      = "files_rejected"
      statistic   = "Sum"
      dimensions  = local.service_dimensions
      threshold   = var.files_rejected_threshold
    }
  })
}

# --- The topic: encrypted with a key CloudWatch may use ----------------------

# SNS's AWS-managed key (alias/aws/sns) does not let CloudWatch alarms publish,
# so the topic has its own customer-managed key.
data "aws_iam_policy_document" "alarm_key" {
  #checkov:skip=CKV_AWS_109: A key policy's Resource "*" is the key itself; the account statement is KMS's default, which hands the key's administration to the account's IAM policies.
  #checkov:skip=CKV_AWS_111: A key policy's Resource "*" is the key itself; the account statement is KMS's default, which hands the key's administration to the account's IAM policies.
  #checkov:skip=CKV_AWS_356: A key policy's Resource "*" is the key itself (KMS allows nothing else there).
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    effect    = "Allow"
    actions   = ["kms:*"] # KMS's default key policy: IAM policies of the account decide who may do what
    resources = ["*"]     # in a key policy, "*" is this key

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid    = "CloudWatchAlarmsPublishEncrypted"
    effect = "Allow"
    # What CloudWatch needs to publish to a topic encrypted with this key. No
    # condition: the topic policy already admits only this account's alarms,
    # and the key encrypts nothing but this topic.
    actions = [
      "kms:Decrypt",
      "kms:GenerateDataKey*",
    ]
    resources = ["*"] # in a key policy, "*" is this key

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "alarms" {
  description             = "Encrypts the ${var.name}-alarms SNS topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.alarm_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "alarms" {
  name          = "alias/${var.name}-alarms"
  target_key_id = aws_kms_key.alarms.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.alarms.arn
  tags              = var.tags
}

# Only this account's alarms named <name>-* may publish (AWS's confused-deputy
# guard: aws:SourceArn and aws:SourceAccount). People and tools of the account
# use the topic with their IAM permissions.
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "OwnAlarmsPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${var.name}-*"] # this module's alarms
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each = toset(var.alarm_emails)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# --- The alarms -----------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name        = "${var.name}-${each.key}"
  alarm_description = each.value.description

  namespace   = each.value.namespace
  metric_name = each.value.metric
  statistic   = each.value.statistic
  dimensions  = each.value.dimensions

  period              = var.period_seconds
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanThreshold"
  # No data is good news for all of them: an empty queue stops reporting, an idle
  # function has no errors, and no file means no rejected file.
  treat_missing_data = "notBreaching"

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]

  tags = var.tags

  # CloudWatch may publish only once the topic policy admits it.
  depends_on = [aws_sns_topic_policy.alarms]
}
