variable "prefix" {
  description = "Starts every resource name (SHOEBOX_PREFIX), e.g. shoebox-dev"
  type        = string
}

variable "image_uri" {
  description = "The api service's container image (deploy/docker/api.Dockerfile); the function runs services.api.lambda_function.handler"
  type        = string
}

variable "environment" {
  description = "The common SHOEBOX_* environment (root local.environment); this module adds the auth, host, stream and saga settings"
  type        = map(string)
}

variable "bucket_arn" {
  description = "The media bucket's ARN (storage)"
  type        = string
}

variable "events_table_arn" {
  description = "The events table's ARN (storage)"
  type        = string
}

variable "views_table_arn" {
  description = "The views table's ARN (storage)"
  type        = string
}

variable "bus_arn" {
  description = "Accepted for the interface: the API calls no PutEvents (what it commits, the relay publishes)"
  type        = string
  default     = null
}

variable "queue_arns" {
  description = "Service -> queue ARN (messaging): the api's own queue is where its sagas send commands (its URL goes in each saga's input)"
  type        = map(string)
}

variable "state_machine_arns" {
  description = "Saga -> state machine ARN (sagas): states:StartExecution on these only"
  type        = map(string)
}

variable "gemini_key_parameter_arn" {
  description = "Accepted for the interface: the API never calls Gemini"
  type        = string
  default     = null
}

variable "kms_key_arn" {
  description = "Accepted beside gemini_key_parameter_arn (the secrets key): the API never reads the Gemini key"
  type        = string
  default     = null
}

variable "data_kms_key_arns" {
  description = "Customer-managed KMS keys of the bucket, tables or queues (storage, messaging), if any"
  type        = list(string)
  default     = []
}

variable "throttle_burst" {
  description = "The stage's default burst limit (requests)"
  type        = number
  default     = 100
}

variable "throttle_rate" {
  description = "The stage's default steady rate limit (requests per second)"
  type        = number
  default     = 50
}

variable "cognito_domain_prefix" {
  description = "The Cognito hosted UI's domain prefix: https://<prefix>.auth.<region>.amazoncognito.com (globally unique per region)"
  type        = string
}

variable "callback_origins" {
  description = "Origins besides the API's own URL where the page may be served (a custom domain): each origin + / is a callback and logout URL, and its host is an allowed Host"
  type        = list(string)
  default     = []
}

variable "admin_creates_users" {
  description = "Only an administrator creates users (no self sign-up on the hosted UI)"
  type        = bool
  default     = true
}

variable "user_pool_tier" {
  description = "The user pool's feature plan: PLUS carries threat protection (advanced security); with ESSENTIALS or LITE set advanced_security_mode = OFF (Cognito refuses it otherwise)"
  type        = string
  default     = "PLUS"
}

variable "advanced_security_mode" {
  description = "Cognito threat protection (advanced security): OFF, AUDIT or ENFORCED; needs user_pool_tier = PLUS"
  type        = string
  default     = "ENFORCED"
}

variable "memory_mb" {
  description = "The API function's memory"
  type        = number
  default     = 1024
}

variable "reserved_concurrency" {
  description = "The API function's reserved concurrency"
  type        = number
  default     = 50
}

variable "stream_max_s" {
  description = "SHOEBOX_API_STREAM_MAX_S for the function: an event stream ends before API Gateway's 30 s integration timeout (HTTP APIs buffer the answer)"
  type        = number
  default     = 25
}

variable "log_retention_days" {
  description = "Retention of the function's and the access logs' log groups"
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "A KMS key for the log groups (null: CloudWatch Logs' own encryption)"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags on every resource (beside the provider's default_tags)"
  type        = map(string)
  default     = {}
}
