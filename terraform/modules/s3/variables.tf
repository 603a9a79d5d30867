variable "input_bucket_name" {
  description = "Name of the bucket that receives the order CSV files (versioned; its ObjectCreated events trigger the Lambda)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.input_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit (no dots: TLS to virtual-hosted buckets breaks on dotted names)."
  }
}

variable "output_bucket_name" {
  description = "Name of the bucket for the dataset, the reports, rejects, run manifests, error records and state."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.output_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "athena_results_bucket_name" {
  description = "Name of the bucket where the Athena workgroup writes query results."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.athena_results_bucket_name))
    error_message = "Bucket names are 3-63 lowercase letters, digits and hyphens, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the buckets even when they hold objects (every version). Safe default false; throw-away assessment stacks set true for easy clean-up."
  type        = bool
  default     = false
}

variable "athena_results_expiration_days" {
  description = "Days after which Athena query results (and their metadata files) are deleted."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_expiration_days >= 1 && floor(var.athena_results_expiration_days) == var.athena_results_expiration_days
    error_message = "athena_results_expiration_days must be a whole number of days, at least 1."
  }
}

variable "input_noncurrent_version_expiration_days" {
  description = "Days after which overwritten or deleted versions of input files are removed from the versioned input bucket."
  type        = number
  default     = 30

  validation {
    condition     = var.input_noncurrent_version_expiration_days >= 1 && floor(var.input_noncurrent_version_expiration_days) == var.input_noncurrent_version_expiration_days
    error_message = "input_noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

variable "abort_incomplete_multipart_upload_days" {
  description = "Days after which parts of unfinished multipart uploads (for example from a timed-out run) are deleted, in every bucket."
  type        = number
  default     = 2

  validation {
    condition     = var.abort_incomplete_multipart_upload_days >= 1 && floor(var.abort_incomplete_multipart_upload_days) == var.abort_incomplete_multipart_upload_days
    error_message = "abort_incomplete_multipart_upload_days must be a whole number of days, at least 1."
  }
}

variable "tags" {
  description = "Tags added to every bucket (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
