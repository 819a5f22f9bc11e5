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

# at least 2 each: the queue mapping's maximum concurrency is the reserved concurrency, and AWS's floor is 2
reserved_concurrency = {
  api           = 2
  media_process = 4
  selection     = 2
  enhance       = 2
  video         = 2
}

otel_exporter = "none"
