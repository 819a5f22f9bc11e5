variable "prefix" {
  description = "Starts every resource name, e.g. shoebox-dev"
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed key that encrypts the parameter (the storage module's); null: a key of its own"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource"
  type        = map(string)
  default     = {}
}
