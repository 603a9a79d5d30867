variable "candidate_name" {
  description = "Who owns this deployment: part of every resource name and the owner tag. Lowercase letters, digits and hyphens."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,14}[a-z0-9]$", var.candidate_name))
    error_message = "candidate_name must be 2-16 lowercase letters, digits or hyphens, starting and ending with a letter or digit (it becomes part of bucket names)."
  }
}

variable "aws_profile" {
  description = "Named AWS CLI profile to deploy with; null uses the default credential chain (environment variables, SSO, instance role)."
  type        = string
  default     = null
}

variable "region" {
  description = "AWS region of every resource."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "project" {
  description = "Project name: first part of every resource name and the project tag."
  type        = string
  default     = "orders-analytics"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,14}[a-z0-9]$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, test, prod, ...): part of every resource name and the environment tag."
  type        = string
  default     = "dev"

  validation {
    condition     = can(regex("^[a-z0-9]{1,8}$", var.environment))
    error_message = "environment must be 1-8 lowercase letters or digits."
  }
}

variable "image_tag" {
  description = "Tag of the Lambda image in the ECR repository. Tags are immutable: push each build under a new tag (make image-push IMAGE_TAG=...) and apply with the same -var image_tag=...."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid image tag (up to 128 letters, digits, . _ -) and not \"latest\", which cannot be pushed twice to an immutable repository."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets (with every object version) and the ECR repository (with its images). Safe default false; throw-away assessment stacks set true."
  type        = bool
  default     = false
}

variable "input_prefix" {
  description = "Key prefix in the input bucket whose .csv files are processed (\"\" for the whole bucket)."
  type        = string
  default     = ""
}

variable "output_prefixes" {
  description = "Where each kind of output goes in the output bucket. Passed both to the function's *_PREFIX variables and to the IAM policy, so the two always match."
  type = object({
    dataset = string
    reports = string
    rejects = string
    errors  = string
    runs    = string
    state   = string
  })
  default = {
    dataset = "dataset/orders/"
    reports = "analytics/"
    rejects = "rejects/"
    errors  = "errors/"
    runs    = "runs/"
    state   = "state/"
  }
}

variable "glue_database_name" {
  description = "Glue database name."
  type        = string
  default     = "orders_analytics"
}

variable "glue_table_name" {
  description = "Glue table name (the function creates the table)."
  type        = string
  default     = "orders"
}

variable "report_engine" {
  description = "\"local\" (reports computed in the function) or \"athena\" (queries/ run through the workgroup; grants the function the Athena permissions)."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "athena"], var.report_engine)
    error_message = "report_engine must be \"local\" or \"athena\"."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the function in MB."
  type        = number
  default     = 4096
}

variable "lambda_timeout" {
  description = "Timeout of the function in seconds."
  type        = number
  default     = 900
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrency of the function; null (the default) reserves none. Not needed for correctness; reserving N needs an account concurrency quota of at least N + 100 (see docs/deployment.md, \"Concurrency\")."
  type        = number
  default     = null
}

variable "lambda_ephemeral_storage_size" {
  description = "Size of the function's /tmp in MB (512-10240)."
  type        = number
  default     = 1024
}

variable "lambda_maximum_retry_attempts" {
  description = "Asynchronous invocations (delivery = \"direct\", replays with --invocation-type Event): retries after a function error (0-2) before the event goes to the failure queue."
  type        = number
  default     = 2
}

variable "lambda_maximum_event_age_seconds" {
  description = "Asynchronous invocations: how long Lambda keeps an event queued, throttles included, before it goes to the failure queue (60-21600)."
  type        = number
  default     = 21600
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the function's role, where the account requires one; null for none."
  type        = string
  default     = null
}

variable "delivery" {
  description = "How S3 events reach the function: \"queue\" (input bucket -> SQS queue -> event source mapping, batched, with a dead-letter queue) or \"direct\" (S3 invokes the function asynchronously). docs/deployment.md, \"Delivery\", has the trade-offs."
  type        = string
  default     = "queue"

  validation {
    condition     = contains(["queue", "direct"], var.delivery)
    error_message = "delivery must be \"queue\" or \"direct\"."
  }
}

variable "input_suffixes" {
  description = "Key suffixes that trigger the function, one notification rule each; S3 matches them case-sensitively. None may end with another (S3 refuses overlapping rules)."
  type        = list(string)
  default     = [".csv", ".CSV"]
}

variable "queue_batch_size" {
  description = "delivery = \"queue\": most files (messages) per invocation (1-10000; above 10 needs queue_batching_window_seconds >= 1). The files of one batch load one after the other within one timeout."
  type        = number
  default     = 10
}

variable "queue_batching_window_seconds" {
  description = "delivery = \"queue\": how long the event source mapping may wait to fill a batch (0-300 s)."
  type        = number
  default     = 10
}

variable "queue_max_concurrency" {
  description = "delivery = \"queue\": most concurrent invocations the event source mapping starts (2-1000, or null for no limit of its own). Keep it at or below lambda_reserved_concurrency when that is set."
  type        = number
  default     = 5
}

variable "queue_max_receive_count" {
  description = "delivery = \"queue\": failed deliveries of a message before it moves to the dead-letter queue (1-1000)."
  type        = number
  default     = 5
}

variable "queue_retention_seconds" {
  description = "delivery = \"queue\": how long an undelivered message stays in the input queue (default 4 days)."
  type        = number
  default     = 345600
}

variable "dead_letter_retention_seconds" {
  description = "delivery = \"queue\": how long dead letters are kept, counted from their first enqueue (default: the maximum, 14 days)."
  type        = number
  default     = 1209600
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the function's metrics (POWERTOOLS_METRICS_NAMESPACE), which the alarms and the dashboard read."
  type        = string
  default     = "OrdersAnalytics"
}

variable "service_name" {
  description = "Service name of the function's metrics and logs (POWERTOOLS_SERVICE_NAME): the metrics' \"service\" dimension."
  type        = string
  default     = "orders-analytics"
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each confirms by e-mail); empty for none."
  type        = list(string)
  default     = []
}

variable "backlog_age_alarm_seconds" {
  description = "Alarm when the oldest waiting event (input queue message, or asynchronous event with delivery = \"direct\") is older than this many seconds."
  type        = number
  default     = 1800
}

variable "files_rejected_alarm_threshold" {
  description = "Alarm when more input files than this are rejected within five minutes (0: every rejected file)."
  type        = number
  default     = 0
}

variable "lake_formation_grants" {
  description = "Grant the function's role Lake Formation permissions on the Glue database and its tables (accounts where Lake Formation governs the catalog; the applier must be a data lake administrator). See docs/deployment.md, \"Lake Formation\"."
  type        = bool
  default     = false
}

variable "log_level" {
  description = "LOG_LEVEL of the function."
  type        = string
  default     = "INFO"
}

variable "log_retention_in_days" {
  description = "Retention of the function's log group in days."
  type        = number
  default     = 365
}

variable "max_object_bytes" {
  description = "MAX_OBJECT_BYTES: larger input files get an error record instead of being read."
  type        = number
  default     = 8589934592
}

variable "max_reject_ratio" {
  description = "MAX_REJECT_RATIO: share of rejected rows above which a file is not loaded."
  type        = number
  default     = 0.25
}

variable "ecr_untagged_image_expiry_days" {
  description = "Days after which untagged images expire from the ECR repository. Tagged images (the deployed one and every rollback candidate) never expire."
  type        = number
  default     = 7
}

variable "athena_bytes_scanned_cutoff" {
  description = "Per-query scan limit of the Athena workgroup in bytes."
  type        = number
  default     = 10737418240
}

variable "athena_results_expiration_days" {
  description = "Days after which Athena query results are deleted."
  type        = number
  default     = 7
}
