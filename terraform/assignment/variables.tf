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
  description = "Reserved concurrency of the function; 1 serialises runs (see docs/deployment.md)."
  type        = number
  default     = 1
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

variable "ecr_keep_last_images" {
  description = "Images the ECR lifecycle policy keeps."
  type        = number
  default     = 10
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
