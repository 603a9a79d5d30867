# One dashboard, top to bottom: alarm states; files and rows (the function's
# EMF metrics); the function (invocations, errors, throttles, duration against
# the timeout, concurrency); the backlog and the failure queues.

locals {
  emf = var.metrics_namespace

  backlog_metrics = var.delivery == "queue" ? [
    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", coalesce(var.input_queue_name, "unset"), { label = "waiting", stat = "Maximum" }],
    ["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", coalesce(var.input_queue_name, "unset"), { label = "in flight", stat = "Maximum" }],
    ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", coalesce(var.input_queue_name, "unset"), { label = "oldest (s)", stat = "Maximum", yAxis = "right" }],
    ] : [
    ["AWS/Lambda", "AsyncEventsReceived", "FunctionName", var.function_name, { label = "events received", stat = "Sum" }],
    ["AWS/Lambda", "AsyncEventsDropped", "FunctionName", var.function_name, { label = "events dropped", stat = "Sum" }],
    ["AWS/Lambda", "AsyncEventAge", "FunctionName", var.function_name, { label = "oldest (ms)", stat = "Maximum", yAxis = "right" }],
  ]

  widgets = [
    {
      type = "text", x = 0, y = 0, width = 24, height = 2
      properties = {
        markdown = "## ${var.function_name}\nDelivery: **${var.delivery}**. Alarms notify SNS topic `${var.name}-alarms`; what each means and what to do is in docs/deployment.md, *Alarms*."
      }
    },
    {
      type = "alarm", x = 0, y = 2, width = 24, height = 3
      properties = {
        title  = "Alarms"
        alarms = [for alarm in aws_cloudwatch_metric_alarm.this : alarm.arn]
      }
    },
    {
      type = "metric", x = 0, y = 5, width = 12, height = 6
      properties = {
        title   = "Rows per day"
        region  = local.region
        view    = "bar"
        stacked = false
        period  = 86400
        stat    = "Sum"
        metrics = [
          [local.emf, "rows_loaded", "service", var.service_name, { label = "loaded" }],
          [local.emf, "rows_rejected", "service", var.service_name, { label = "rejected" }],
          [local.emf, "rows_read", "service", var.service_name, { label = "read" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 5, width = 12, height = 6
      properties = {
        title   = "Files per hour"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = 3600
        stat    = "Sum"
        metrics = [
          [local.emf, "files_loaded", "service", var.service_name, { label = "loaded" }],
          [local.emf, "files_rejected", "service", var.service_name, { label = "rejected", color = "#d62728" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 11, width = 8, height = 6
      properties = {
        title   = "Invocations, errors, throttles"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = var.period_seconds
        stat    = "Sum"
        metrics = [
          ["AWS/Lambda", "Invocations", "FunctionName", var.function_name],
          ["AWS/Lambda", "Errors", "FunctionName", var.function_name, { color = "#d62728" }],
          ["AWS/Lambda", "Throttles", "FunctionName", var.function_name, { color = "#ff7f0e" }],
        ]
      }
    },
    {
      type = "metric", x = 8, y = 11, width = 8, height = 6
      properties = {
        title   = "Duration (ms) against the timeout"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = var.period_seconds
        metrics = [
          ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "Maximum", label = "maximum" }],
          ["AWS/Lambda", "Duration", "FunctionName", var.function_name, { stat = "Average", label = "average" }],
        ]
        annotations = {
          horizontal = [
            { label = "alarm (${floor(var.duration_alarm_ratio * 100)}%)", value = floor(var.duration_alarm_ratio * local.timeout_ms) },
            { label = "timeout", value = local.timeout_ms, color = "#d62728" },
          ]
        }
      }
    },
    {
      type = "metric", x = 16, y = 11, width = 8, height = 6
      properties = {
        title   = "Concurrent executions"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = var.period_seconds
        stat    = "Maximum"
        metrics = [
          ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", var.function_name],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 17, width = 12, height = 6
      properties = {
        title   = var.delivery == "queue" ? "Input queue backlog" : "Asynchronous event backlog"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = var.period_seconds
        metrics = local.backlog_metrics
      }
    },
    {
      type = "metric", x = 12, y = 17, width = 12, height = 6
      properties = {
        title   = "Events that failed for good"
        region  = local.region
        view    = "timeSeries"
        stacked = false
        period  = var.period_seconds
        stat    = "Maximum"
        metrics = [
          for label, queue in var.failure_queue_names : ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue, { label = label, color = "#d62728" }]
        ]
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({ widgets = local.widgets })
}
