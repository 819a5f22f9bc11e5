# The whole system from one topology: deploy/terraform/topology.json, generated from the services'
# declarations (`task topology`), the same ones the embedded stack provisions from.

locals {
  # Names in the file carry a literal ${prefix}; replaced once here, every module gets real names.
  topology = jsondecode(replace(file("${path.module}/topology.json"), "$${prefix}", var.prefix))

  tags = merge(var.tags, {
    Project     = "shoebox"
    Environment = var.environment_name
    Prefix      = var.prefix
  })

  # Every function's common environment (shared/runtime/config.py Settings); compute and api add their own.
  # The Gemini key parameter's name only once gemini_enabled: the services take Gemini as soon as a name is set
  # (shared/runtime/gemini.py gemini_configured), and until the operator puts a key it holds a placeholder.
  environment = merge(
    {
      SHOEBOX_PREFIX                      = var.prefix
      SHOEBOX_REGION                      = var.region
      SHOEBOX_AI_GEMINI_API_KEY_PARAMETER = var.gemini_enabled ? module.secrets.gemini_key_parameter_name : ""
      SHOEBOX_TELEMETRY_EXPORTER          = var.otel_exporter
      SHOEBOX_LOG_LEVEL                   = var.log_level
    },
    var.otel_exporter == "otlp" ? { OTEL_EXPORTER_OTLP_ENDPOINT = var.otel_endpoint } : {},
  )

  api_origin = regex("^https://[^/]+", module.api.api_url)
}

module "storage" {
  source              = "./modules/storage"
  prefix              = var.prefix
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

module "secrets" {
  source      = "./modules/secrets"
  prefix      = var.prefix
  kms_key_arn = module.storage.kms_key_arn
  tags        = local.tags
}

module "messaging" {
  source                 = "./modules/messaging"
  prefix                 = var.prefix
  topology               = local.topology
  bucket_name            = module.storage.bucket_name
  events_stream_arn      = module.storage.events_stream_arn
  events_table_arn       = module.storage.events_table_arn
  relay_image_uri        = var.images["api"]
  kms_key_arn            = module.storage.kms_key_arn
  environment            = local.environment
  archive_retention_days = var.archive_retention_days
  log_retention_days     = var.log_retention_days
  tags                   = local.tags
}

module "sagas" {
  source             = "./modules/sagas"
  prefix             = var.prefix
  topology           = local.topology
  asl_dir            = "${path.module}/../sagas"
  views_table_arn    = module.storage.views_table_arn
  events_table_arn   = module.storage.events_table_arn
  queue_arns         = module.messaging.queue_arns
  kms_key_arn        = module.storage.kms_key_arn
  log_retention_days = var.log_retention_days
  tags               = local.tags
}

module "compute" {
  source                   = "./modules/compute"
  prefix                   = var.prefix
  topology                 = local.topology
  images                   = var.images
  environment              = local.environment
  queue_arns               = module.messaging.queue_arns
  dlq_arns                 = module.messaging.dlq_arns
  bucket_arn               = module.storage.bucket_arn
  events_table_arn         = module.storage.events_table_arn
  views_table_arn          = module.storage.views_table_arn
  events_stream_arn        = module.storage.events_stream_arn
  bus_arn                  = module.messaging.bus_arn
  state_machine_arns       = module.sagas.state_machine_arns
  gemini_key_parameter_arn = module.secrets.gemini_key_parameter_arn
  kms_key_arn              = module.secrets.kms_key_arn
  data_kms_key_arns        = [module.storage.kms_key_arn]
  log_kms_key_arn          = module.storage.kms_key_arn
  reserved_concurrency     = var.reserved_concurrency
  log_retention_days       = var.log_retention_days
  tags                     = local.tags
}

module "api" {
  source                   = "./modules/api"
  prefix                   = var.prefix
  image_uri                = var.images["api"]
  environment              = local.environment
  bucket_arn               = module.storage.bucket_arn
  events_table_arn         = module.storage.events_table_arn
  views_table_arn          = module.storage.views_table_arn
  bus_arn                  = module.messaging.bus_arn
  queue_arns               = module.messaging.queue_arns
  state_machine_arns       = module.sagas.state_machine_arns
  gemini_key_parameter_arn = module.secrets.gemini_key_parameter_arn
  kms_key_arn              = module.secrets.kms_key_arn
  data_kms_key_arns        = [module.storage.kms_key_arn]
  log_kms_key_arn          = module.storage.kms_key_arn
  throttle_burst           = var.throttle_burst
  throttle_rate            = var.throttle_rate
  cognito_domain_prefix    = var.cognito_domain_prefix
  callback_origins         = var.callback_origins
  log_retention_days       = var.log_retention_days
  tags                     = local.tags
}

module "contracts" {
  source     = "./modules/contracts"
  prefix     = var.prefix
  schema_dir = "${path.module}/../../schemas/events-draft4"
}

module "observability" {
  source    = "./modules/observability"
  prefix    = var.prefix
  dlq_names = module.messaging.dlq_names
  # every function, keyed by a name known at plan time
  function_names = merge(
    module.compute.function_names,
    { for s, n in module.compute.sweeper_function_names : "${s}-sweep" => n },
    {
      "api-http" = module.api.api_function_name
      "relay"    = module.messaging.relay_function_name
    },
  )
  function_timeouts = merge(
    module.compute.function_timeouts,
    {
      (module.api.api_function_name)         = module.api.api_function_timeout
      (module.messaging.relay_function_name) = module.messaging.relay_timeout_s
    },
  )
  state_machine_arns       = module.sagas.state_machine_arns
  relay_failure_topic_name = module.messaging.relay_failure_topic_name
  alarm_email              = var.alarm_email
  kms_key_arn              = module.storage.kms_key_arn
  tags                     = local.tags
}
