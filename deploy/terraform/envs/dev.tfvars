# terraform apply -var-file=envs/dev.tfvars -var='images={...}' (image URIs pinned by digest, per build)
region                = "us-east-1"
prefix                = "shoebox-dev"
environment_name      = "dev"
cognito_domain_prefix = "shoebox-dev-login"

# a dev stack is torn down and rebuilt freely
deletion_protection    = false
log_retention_days     = 14
archive_retention_days = 7
log_level              = "DEBUG"

throttle_burst = 20
throttle_rate  = 10

reserved_concurrency = {
  api           = 2
  media_process = 4
  selection     = 1
  enhance       = 2
  video         = 1
}

otel_exporter = "none"
