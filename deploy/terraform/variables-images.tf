# The root's variables of the images item (README "Deploy to AWS", step 6).

variable "gemini_enabled" {
  description = "Give the functions the Gemini key parameter's name (put the key into it first); false: the services run their offline providers"
  type        = bool
  default     = false
}
