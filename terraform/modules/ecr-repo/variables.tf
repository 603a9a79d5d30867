variable "name" {
  description = "Name of the ECR repository (also the image name)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) >= 2 && length(var.name) <= 256
    error_message = "The name must be 2-256 lowercase letters, digits and . _ - / separators, as ECR requires."
  }
}

variable "keep_last_images" {
  description = "How many images the lifecycle policy keeps; older ones are expired."
  type        = number
  default     = 10

  validation {
    condition     = var.keep_last_images >= 1 && var.keep_last_images <= 1000 && floor(var.keep_last_images) == var.keep_last_images
    error_message = "keep_last_images must be a whole number between 1 and 1000."
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
