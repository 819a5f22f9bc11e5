# Added by the images item (README "Deploy to AWS", step 6). The root's local.environment must pass the
# parameter's name only when this is true:
#   SHOEBOX_AI_GEMINI_API_KEY_PARAMETER = var.gemini_enabled ? module.secrets.gemini_key_parameter_name : ""
# The services take Gemini as soon as the name is set (shared/runtime/gemini.py gemini_configured) and would
# send the parameter's placeholder as the key; empty, they run their offline providers.
variable "gemini_enabled" {
  description = "Give the functions the Gemini key parameter's name (put the key first); false: the offline providers"
  type        = bool
  default     = false
}
