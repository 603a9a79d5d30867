variable "name" {
  description = "Name of the input queue; the dead-letter queue is <name>-dlq."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,76}$", var.name))
    error_message = "name is 1-76 letters, digits, hyphens or underscores (SQS allows 80; \"-dlq\" takes 4)."
  }
}

variable "input_bucket_arn" {
  description = "ARN of the bucket whose ObjectCreated notifications the queue receives; the queue policy lets only S3, on behalf of this bucket and account, send."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.input_bucket_arn))
    error_message = "input_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::name)."
  }
}

variable "visibility_timeout_seconds" {
  description = "How long a received message stays invisible. Give at least six times the function timeout plus the mapping's batching window (AWS's rule for Lambda event sources); the root computes it."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number of seconds between 0 and 43200 (12 hours)."
  }
}

variable "max_receive_count" {
  description = "Receives after which a message that keeps failing moves to the dead-letter queue. Each failed delivery of a message to the function is one receive."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number between 1 and 1000."
  }
}

variable "message_retention_seconds" {
  description = "How long an undelivered message stays in the input queue (default 4 days). The dead-letter queue keeps a message's original enqueue time, so keep this below dead_letter_retention_seconds."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number between 60 and 1209600 (14 days)."
  }
}

variable "dead_letter_retention_seconds" {
  description = "How long messages stay in the dead-letter queue, counted from their first enqueue in the input queue (default: the maximum, 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dead_letter_retention_seconds >= 60 && var.dead_letter_retention_seconds <= 1209600 && floor(var.dead_letter_retention_seconds) == var.dead_letter_retention_seconds
    error_message = "dead_letter_retention_seconds must be a whole number between 60 and 1209600 (14 days)."
  }
}

variable "tags" {
  description = "Tags added to both queues (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
