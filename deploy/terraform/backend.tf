# The state lives in an S3 bucket of the operator's (README "Deploy to AWS"), given at init, with the lock as a
# file beside it (Terraform >= 1.10):
#   terraform init -backend-config="bucket=<prefix>-tfstate" -backend-config="key=<prefix>.tfstate" \
#     -backend-config="region=<region>" -backend-config="use_lockfile=true"
# `terraform init -backend=false` (validation, the tests) needs none of it.
terraform {
  backend "s3" {}
}
