# The root's variables: envs/<env>.tfvars sets most; `images` comes from `task images` (README "Deploy to AWS").

variable "region" {
  description = "The AWS region of the whole stack (SHOEBOX_REGION)"
  type        = string
  default     = "us-east-1"
}

variable "prefix" {
  description = "Starts every resource name (SHOEBOX_PREFIX; shared/runtime/config.py Names): the bucket's too, so lower-case letters, digits and hyphens"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,40}$", var.prefix))
    error_message = "prefix: lower-case letters, digits and hyphens, starting with a letter or digit, at most 41 characters."
  }
}

variable "environment_name" {
  description = "The environment's name (dev, prod), as a tag"
  type        = string
}

variable "images" {
  description = "Service -> its container image URI, pinned by digest (repo@sha256:...), built from deploy/docker/<service>.Dockerfile: api, media_process, selection, enhance, video"
  type        = map(string)

  validation {
    condition     = alltrue([for s in ["api", "media_process", "selection", "enhance", "video"] : contains(keys(var.images), s)])
    error_message = "images: one URI for each of api, media_process, selection, enhance, video."
  }
}

variable "page_origins" {
  description = "Origins besides the API's own that may use the media bucket from a browser (a custom domain serving the page); the API's origin is always allowed"
  type        = list(string)
  default     = []
}

variable "cognito_domain_prefix" {
  description = "The Cognito hosted UI's domain prefix (https://<prefix>.auth.<region>.amazoncognito.com): unique in the region"
  type        = string
}

variable "callback_origins" {
  description = "Origins besides the API's own that the hosted UI may redirect back to"
  type        = list(string)
  default     = []
}

variable "throttle_burst" {
  description = "The HTTP API's burst limit (requests)"
  type        = number
  default     = 100
}

variable "throttle_rate" {
  description = "The HTTP API's steady rate limit (requests per second)"
  type        = number
  default     = 50
}

variable "reserved_concurrency" {
  description = "Service -> its consumer's reserved concurrency (unlisted: the compute module's default)"
  type        = map(number)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group (functions, sagas, API access logs)"
  type        = number
  default     = 30
}

variable "log_level" {
  description = "SHOEBOX_LOG_LEVEL of every function"
  type        = string
  default     = "INFO"
}

variable "otel_exporter" {
  description = "SHOEBOX_TELEMETRY_EXPORTER: none, or otlp (to otel_endpoint; the images must carry the otlp extra)"
  type        = string
  default     = "none"

  validation {
    condition     = contains(["none", "otlp"], var.otel_exporter)
    error_message = "otel_exporter: none or otlp."
  }
}

variable "otel_endpoint" {
  description = "OTEL_EXPORTER_OTLP_ENDPOINT when otel_exporter is otlp (a collector reachable from Lambda, e.g. an ADOT collector layer's http://localhost:4318)"
  type        = string
  default     = ""
}

variable "alarm_email" {
  description = "An address subscribed to the alarm topic (null: none)"
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect the event log and views tables from deletion"
  type        = bool
  default     = true
}

variable "archive_retention_days" {
  description = "Days the bus archive keeps events for replay (0: forever)"
  type        = number
  default     = 30
}

variable "tags" {
  description = "Extra tags on every resource"
  type        = map(string)
  default     = {}
}

variable "gemini_enabled" {
  description = "Give the functions the Gemini key parameter's name (put the key into it first); false: the services run their offline providers"
  type        = bool
  default     = false
}
