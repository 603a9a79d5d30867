variable "name" {
  description = "Prefix of every alarm name, the SNS topic (<name>-alarms), the KMS alias and the dashboard (<name>)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,200}$", var.name))
    error_message = "name is 1-200 letters, digits, hyphens or underscores."
  }
}

variable "function_name" {
  description = "Name of the Lambda function watched (the FunctionName dimension of the AWS/Lambda metrics)."
  type        = string
}

variable "function_timeout_seconds" {
  description = "The function's timeout; the duration alarm fires above duration_alarm_ratio of it."
  type        = number

  validation {
    condition     = var.function_timeout_seconds >= 1 && var.function_timeout_seconds <= 900
    error_message = "function_timeout_seconds must be between 1 and 900."
  }
}

variable "delivery" {
  description = "\"queue\": the backlog alarm watches the input queue's oldest message (needs input_queue_name); \"direct\": it watches the age of asynchronous events (AWS/Lambda AsyncEventAge)."
  type        = string
  default     = "queue"

  validation {
    condition     = contains(["queue", "direct"], var.delivery)
    error_message = "delivery must be \"queue\" or \"direct\"."
  }
}

variable "input_queue_name" {
  description = "Name of the input queue (delivery = \"queue\")."
  type        = string
  default     = null
}

variable "failure_queue_names" {
  description = "Queues that hold events which failed for good, by a short label that names their alarm (<name>-<label>), e.g. { dead-letters = \"...-dlq\", failed-events = \"...-failures\" }. Each alarms as soon as it holds a message."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for label in keys(var.failure_queue_names) : can(regex("^[a-z0-9-]{1,40}$", label))])
    error_message = "failure_queue_names labels are 1-40 lowercase letters, digits or hyphens."
  }
}

variable "metrics_namespace" {
  description = "Namespace of the function's EMF metrics (POWERTOOLS_METRICS_NAMESPACE)."
  type        = string
  default     = "OrdersAnalytics"
}

variable "service_name" {
  description = "The \"service\" dimension of the function's EMF metrics (POWERTOOLS_SERVICE_NAME)."
  type        = string
  default     = "orders-analytics"
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription from the message AWS sends). Empty: no subscription; subscribe a chat or paging tool to the topic instead."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must hold e-mail addresses."
  }
}

variable "period_seconds" {
  description = "Period over which every alarm evaluates its metric (one period breaching fires it)."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 180, 240, 300, 600, 900, 1800, 3600], var.period_seconds)
    error_message = "period_seconds must be one of 60, 120, 180, 240, 300, 600, 900, 1800, 3600."
  }
}

variable "backlog_age_threshold_seconds" {
  description = "The backlog alarm fires when the oldest waiting event (queue message, or asynchronous event) is older than this. Default 30 minutes: a file normally loads in seconds to minutes."
  type        = number
  default     = 1800

  validation {
    condition     = var.backlog_age_threshold_seconds >= 60 && floor(var.backlog_age_threshold_seconds) == var.backlog_age_threshold_seconds
    error_message = "backlog_age_threshold_seconds must be a whole number of seconds, at least 60."
  }
}

variable "duration_alarm_ratio" {
  description = "The duration alarm fires when an invocation runs longer than this share of the timeout (default 0.8: 80%)."
  type        = number
  default     = 0.8

  validation {
    condition     = var.duration_alarm_ratio > 0 && var.duration_alarm_ratio < 1
    error_message = "duration_alarm_ratio must be between 0 and 1 (exclusive)."
  }
}

variable "errors_threshold" {
  description = "The errors alarm fires when the function reports more errors than this in one period."
  type        = number
  default     = 0

  validation {
    condition     = var.errors_threshold >= 0
    error_message = "errors_threshold must not be negative."
  }
}

variable "throttles_threshold" {
  description = "The throttles alarm fires when more invocations than this are throttled in one period."
  type        = number
  default     = 0

  validation {
    condition     = var.throttles_threshold >= 0
    error_message = "throttles_threshold must not be negative."
  }
}

variable "files_rejected_threshold" {
  description = "The files-rejected alarm fires when more input files than this are rejected (files_rejected metric) in one period."
  type        = number
  default     = 0

  validation {
    condition     = var.files_rejected_threshold >= 0
    error_message = "files_rejected_threshold must not be negative."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the topic's KMS key is deleted after a destroy (7-30 days)."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30 && floor(var.kms_key_deletion_window_in_days) == var.kms_key_deletion_window_in_days
    error_message = "kms_key_deletion_window_in_days must be a whole number between 7 and 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
