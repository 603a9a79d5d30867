variable "function_name" {
  description = "Name of the Lambda function (also names its log group and failure queue)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,55}$", var.function_name))
    error_message = "function_name is 1-55 letters, digits, hyphens or underscores (55 leaves room for the \"-failures\" queue suffix)."
  }
}

variable "description" {
  description = "Description of the Lambda function."
  type        = string
  default     = "Order CSVs on S3 -> Parquet dataset in the Glue catalog -> daily CSV reports"
}

variable "image_uri" {
  description = "ECR image the function runs, as <repository_url>:<tag> or <repository_url>@sha256:<digest>. The image must exist before the function is created."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.image_uri))
    error_message = "image_uri must be an ECR image reference with a tag or digest: <account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>."
  }
}

variable "execution_role_arn" {
  description = "ARN of the function's execution role (terraform/modules/iam)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.execution_role_arn))
    error_message = "execution_role_arn must be an IAM role ARN."
  }
}

variable "memory_size" {
  description = "Memory in MB. CPU scales with it (about one vCPU per 1,769 MB); see the README sizing table. The default suits files up to about 10M rows."
  type        = number
  default     = 4096

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds. The default is Lambda's maximum, for multi-GB files."
  type        = number
  default     = 900

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "ephemeral_storage_size" {
  description = "Size of /tmp in MB."
  type        = number
  default     = 1024

  validation {
    condition     = var.ephemeral_storage_size >= 512 && var.ephemeral_storage_size <= 10240 && floor(var.ephemeral_storage_size) == var.ephemeral_storage_size
    error_message = "ephemeral_storage_size must be a whole number of MB between 512 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Reserved concurrency: capacity set aside for the function, and the most invocations it can have at once. null (the default) reserves none. Not needed for correctness (the same key is serialised by the code); reserving N needs an account concurrency quota of at least N + 100, since AWS keeps 100 unreserved."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null || try(var.reserved_concurrent_executions >= 1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions, false)
    error_message = "reserved_concurrent_executions must be null (no reservation) or a whole number, at least 1 (0 would stop the function)."
  }
}

variable "maximum_retry_attempts" {
  description = "Asynchronous invocations (delivery = \"direct\", and replays with --invocation-type Event): retries Lambda makes after a function error (0-2), before the event goes to the failure queue."
  type        = number
  default     = 2

  validation {
    condition     = contains([0, 1, 2], var.maximum_retry_attempts)
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "Asynchronous invocations (delivery = \"direct\"): how long Lambda keeps an event queued (including while throttled) before it goes to the failure queue. Default: the maximum, 6 hours."
  type        = number
  default     = 21600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 21600 && floor(var.maximum_event_age_in_seconds) == var.maximum_event_age_in_seconds
    error_message = "maximum_event_age_in_seconds must be a whole number between 60 and 21600."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long failed events stay in the failure queue. Default: the maximum, 14 days."
  type        = number
  default     = 1209600

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600 && floor(var.failure_queue_retention_seconds) == var.failure_queue_retention_seconds
    error_message = "failure_queue_retention_seconds must be a whole number between 60 and 1209600."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the function's CloudWatch log group."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "input_bucket_name" {
  description = "Name of the input bucket whose ObjectCreated events trigger the function."
  type        = string
}

variable "input_bucket_arn" {
  description = "ARN of the input bucket (the source ARN of the invoke permission, delivery = \"direct\")."
  type        = string
}

variable "input_prefix" {
  description = "Only objects under this key prefix trigger the function (\"\" for the whole bucket)."
  type        = string
  default     = ""

  validation {
    condition     = var.input_prefix == "" || (endswith(var.input_prefix, "/") && !startswith(var.input_prefix, "/"))
    error_message = "input_prefix is \"\" or a key prefix like \"incoming/\" (no leading slash, one trailing slash)."
  }
}

variable "input_suffixes" {
  description = "Keys ending with one of these trigger the function, one notification rule each. S3 matches suffixes case-sensitively, hence \".csv\" and \".CSV\"; add \".Csv\" and the like if senders use them. S3 refuses rules of the same event type and prefix whose suffixes overlap (one ends with another)."
  type        = list(string)
  default     = [".csv", ".CSV"]

  validation {
    condition     = length(var.input_suffixes) > 0 && alltrue([for s in var.input_suffixes : length(s) > 0])
    error_message = "input_suffixes must hold at least one non-empty suffix: without one every object written to the input bucket would trigger a run."
  }

  validation {
    condition = alltrue(flatten([
      for i, a in var.input_suffixes : [for j, b in var.input_suffixes : i == j || !endswith(a, b)]
    ]))
    error_message = "input_suffixes overlap (a suffix repeats, or one ends with another, like \"csv\" and \".csv\"): S3 refuses such notification rules."
  }
}

variable "delivery" {
  description = "How S3 events reach the function: \"queue\" (the input bucket notifies an SQS queue that an event source mapping reads in batches; needs input_queue_arn) or \"direct\" (S3 invokes the function asynchronously). docs/deployment.md, \"Delivery\", has the trade-offs."
  type        = string
  default     = "queue"

  validation {
    condition     = contains(["queue", "direct"], var.delivery)
    error_message = "delivery must be \"queue\" or \"direct\"."
  }
}

variable "input_queue_arn" {
  description = "ARN of the input queue (terraform/modules/queue) when delivery is \"queue\"."
  type        = string
  default     = null
}

variable "batch_size" {
  description = "delivery = \"queue\": most messages (one per file) in one invocation. One invocation loads its files one after the other and refreshes each affected day's reports once, so the files of a batch must fit in the timeout together."
  type        = number
  default     = 10

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "delivery = \"queue\": how long the mapping may wait to fill a batch before invoking (0-300 s). Longer windows mean fewer report refreshes and more latency."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300 && floor(var.maximum_batching_window_in_seconds) == var.maximum_batching_window_in_seconds
    error_message = "maximum_batching_window_in_seconds must be a whole number between 0 and 300."
  }
}

variable "maximum_concurrency" {
  description = "delivery = \"queue\": most concurrent invocations the mapping starts (2-1000); null leaves it to the queue's depth and the account. Keep it at or below reserved_concurrent_executions when that is set."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency == null || try(var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000 && floor(var.maximum_concurrency) == var.maximum_concurrency, false)
    error_message = "maximum_concurrency must be null or a whole number between 2 and 1000 (Lambda's limits)."
  }
}

variable "metrics_namespace" {
  description = "POWERTOOLS_METRICS_NAMESPACE: CloudWatch namespace of the function's EMF metrics (files_loaded, files_rejected, rows_*)."
  type        = string
  default     = "OrdersAnalytics"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 letters, digits or . _ / # : - and must not start with \"AWS/\"."
  }
}

variable "service_name" {
  description = "POWERTOOLS_SERVICE_NAME: the metrics' \"service\" dimension and the logs' service key."
  type        = string
  default     = "orders-analytics"

  validation {
    condition     = length(var.service_name) >= 1 && length(var.service_name) <= 255
    error_message = "service_name must be 1-255 characters."
  }
}

variable "output_bucket_name" {
  description = "OUTPUT_BUCKET: bucket for the dataset, reports, rejects, runs, errors and state."
  type        = string
}

variable "output_prefixes" {
  description = "The *_PREFIX variables: where each kind of output goes in the output bucket (see docs/design.md). Must match the prefixes the iam module grants."
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

  validation {
    condition     = alltrue([for p in values(var.output_prefixes) : length(p) > 1 && endswith(p, "/") && !startswith(p, "/")]) && length(distinct(values(var.output_prefixes))) == 6
    error_message = "Each output prefix is a distinct key prefix like \"analytics/\" (no leading slash, one trailing slash)."
  }
}

variable "glue_database_name" {
  description = "GLUE_DATABASE: the Glue database (created by the glue-athena module)."
  type        = string
}

variable "glue_table_name" {
  description = "GLUE_TABLE: the Glue table; the function creates it from lambda_app/schema.py."
  type        = string
  default     = "orders"
}

variable "report_engine" {
  description = "REPORT_ENGINE: \"local\" computes the daily reports in the function, \"athena\" runs the queries in queries/ through the workgroup."
  type        = string
  default     = "local"

  validation {
    condition     = contains(["local", "athena"], var.report_engine)
    error_message = "report_engine must be \"local\" or \"athena\"."
  }
}

variable "athena_workgroup_name" {
  description = "ATHENA_WORKGROUP: the workgroup used when report_engine is \"athena\"."
  type        = string
}

variable "max_object_bytes" {
  description = "MAX_OBJECT_BYTES: input files larger than this get an error record instead of being read."
  type        = number
  default     = 8589934592 # 8 GiB

  validation {
    condition     = var.max_object_bytes >= 1 && floor(var.max_object_bytes) == var.max_object_bytes
    error_message = "max_object_bytes must be a positive whole number."
  }
}

variable "max_reject_ratio" {
  description = "MAX_REJECT_RATIO: a file with a larger share of rejected rows is treated as a bad file and nothing of it is loaded."
  type        = number
  default     = 0.25

  validation {
    condition     = var.max_reject_ratio >= 0 && var.max_reject_ratio <= 1
    error_message = "max_reject_ratio must be between 0 and 1."
  }
}

variable "log_level" {
  description = "LOG_LEVEL of the function's JSON logs."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
  }
}

variable "extra_environment_variables" {
  description = "More environment variables (for example CSV_BLOCK_BYTES or ROWS_PER_FILE from docs/design.md). They cannot replace the ones this module sets."
  type        = map(string)
  default     = {}

  validation {
    condition = length(setintersection(keys(var.extra_environment_variables), [
      "OUTPUT_BUCKET", "GLUE_DATABASE", "GLUE_TABLE", "REPORT_ENGINE", "ATHENA_WORKGROUP", "MAX_OBJECT_BYTES",
      "MAX_REJECT_RATIO", "LOG_LEVEL", "DATASET_PREFIX", "REPORTS_PREFIX", "REJECTS_PREFIX", "ERRORS_PREFIX",
      "RUNS_PREFIX", "STATE_PREFIX", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
    ])) == 0
    error_message = "extra_environment_variables must not set a variable that has its own input in this module."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
