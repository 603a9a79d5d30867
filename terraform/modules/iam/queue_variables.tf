variable "grant_input_queue" {
  description = "Grant the event source mapping's permissions on input_queue_arn (delivery = \"queue\"): receive, delete and read the attributes of that queue only."
  type        = bool
  default     = false
}

variable "input_queue_arn" {
  description = "ARN of the SQS queue the function is fed from (used when grant_input_queue is true)."
  type        = string
  default     = null

  validation {
    condition     = var.input_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:.+$", var.input_queue_arn))
    error_message = "input_queue_arn must be an SQS queue ARN."
  }
}
