variable "prefix" {
  description = "Starts every resource name (shared/runtime/config.py Names), e.g. shoebox-dev"
  type        = string
}

variable "expiration_days" {
  description = "Days an object lives, per top-level prefix of the media bucket (shared/runtime/inbound.py ALL_PREFIXES; a test keeps the two equal)"
  type        = map(number)
  default = {
    "uploads"    = 7
    "thumbnails" = 7
    "converted"  = 7
    "previews"   = 7
    "enhanced"   = 7
    "results"    = 7
  }
}

variable "deletion_protection" {
  description = "Protect the events (the log) and views tables from deletion"
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
