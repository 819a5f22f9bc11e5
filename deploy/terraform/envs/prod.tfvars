# terraform apply -var-file=envs/prod.tfvars -var='images={...}' (image URIs pinned by digest, per release)
region                = "us-east-1"
prefix                = "shoebox-prod"
environment_name      = "prod"
cognito_domain_prefix = "shoebox-prod-login"

deletion_protection    = true
log_retention_days     = 90
archive_retention_days = 90
log_level              = "INFO"

throttle_burst = 100
throttle_rate  = 50

reserved_concurrency = {
  api           = 10
  media_process = 50
  selection     = 4
  enhance       = 10
  video         = 5
}

# alarm_email = "oncall@example.com"
otel_exporter = "none"
