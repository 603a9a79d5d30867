variable "name" {
  description = "Name of the ECR repository (also the image name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) >= 2 && length(var.name) <= 256
    error_message = "The name must be 2-256 lowercase letters, digits and . _ - / separators, as ECR requires."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after its push when an untagged image expires. Tagged images never expire: the function runs a tag, and old tags are what a rollback applies."
  type        = number
  default     = 7

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && floor(var.untagged_image_expiry_days) == var.untagged_image_expiry_days
    error_message = "untagged_image_expiry_days must be a whole number of days, at least 1."
  }
}

variable "force_delete" {
  description = "Delete the repository on destroy even if it still holds images. Keep false outside throw-away environments."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to the repository (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
