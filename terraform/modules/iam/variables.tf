variable "role_name" {
  description = "Name of the Lambda execution role."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "IAM role names are 1-64 characters from letters, digits and +=,.@_-."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of a permissions boundary to attach to the role, where the account requires one; null for none."
  type        = string
  default     = null
}

variable "input_bucket_arn" {
  description = "ARN of the input bucket the function reads order CSVs from."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.input_bucket_arn))
    error_message = "input_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name)."
  }
}

variable "input_prefix" {
  description = "Key prefix of the input files inside the input bucket (\"\" for the whole bucket). Reads are limited to it; listing is not (S3 answers a HEAD of a deleted key with 404 only when the caller may list the bucket, a check that carries no prefix)."
  type        = string
  default     = ""

  validation {
    condition     = var.input_prefix == "" || (endswith(var.input_prefix, "/") && !startswith(var.input_prefix, "/"))
    error_message = "input_prefix is \"\" or a key prefix like \"incoming/\" (no leading slash, one trailing slash)."
  }
}

variable "output_bucket_arn" {
  description = "ARN of the output bucket (dataset, reports, rejects, runs, errors, state)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.output_bucket_arn))
    error_message = "output_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name)."
  }
}

variable "output_prefixes" {
  description = "The key prefixes the function writes under in the output bucket; the same values are its *_PREFIX environment variables. Writes, deletes and listing are limited to them."
  type        = list(string)

  validation {
    condition     = length(var.output_prefixes) > 0 && alltrue([for p in var.output_prefixes : length(p) > 1 && endswith(p, "/") && !startswith(p, "/")])
    error_message = "Each output prefix is a non-empty key prefix like \"dataset/orders/\" (no leading slash, one trailing slash)."
  }
}

variable "glue_database_name" {
  description = "Glue database holding the orders table."
  type        = string
}

variable "glue_table_name" {
  description = "Glue table the function creates and adds partitions to."
  type        = string
}

variable "grant_athena" {
  description = "Grant the Athena permissions the function needs when REPORT_ENGINE=athena (queries on its workgroup, the results bucket). False leaves them out."
  type        = bool
  default     = false
}

variable "athena_workgroup_name" {
  description = "Athena workgroup the function may run queries in (used when grant_athena is true)."
  type        = string
}

variable "athena_results_bucket_arn" {
  description = "ARN of the Athena results bucket (used when grant_athena is true)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.athena_results_bucket_arn))
    error_message = "athena_results_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name)."
  }
}

variable "log_group_arn" {
  description = "ARN of the function's CloudWatch log group (without a trailing :*)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[^*]+$", var.log_group_arn))
    error_message = "log_group_arn must be a CloudWatch Logs log group ARN without a trailing :*."
  }
}

variable "failure_queue_arn" {
  description = "ARN of the SQS queue that receives events which still fail after Lambda's retries."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$", var.failure_queue_arn))
    error_message = "failure_queue_arn must be an SQS queue ARN."
  }
}

variable "tags" {
  description = "Tags added to the role (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
