# The Gemini API key: a SecureString the services read once per process at cold start
# (SHOEBOX_AI_GEMINI_API_KEY_PARAMETER, shared/runtime/gemini.py). Terraform creates it with a placeholder and
# never sees the key: the operator writes it with
#   aws ssm put-parameter --name <output gemini_key_parameter_name> --type SecureString --overwrite --value ...
# and `ignore_changes` keeps a later apply from writing the placeholder back.

resource "aws_kms_key" "own" {
  # checkov:skip=CKV2_AWS_64: made only when no key is passed (the root passes the storage key, whose policy is explicit); AWS's default key policy (the account, through IAM) applies
  count               = var.kms_key_arn == null ? 1 : 0
  description         = "${var.prefix}: the Gemini key parameter"
  enable_key_rotation = true
  tags                = var.tags
}

locals {
  kms_key_arn = var.kms_key_arn == null ? aws_kms_key.own[0].arn : var.kms_key_arn
}

resource "aws_ssm_parameter" "gemini_api_key" {
  name        = "/${var.prefix}/gemini-api-key"
  description = "The Gemini API key (put by the operator; Terraform keeps only a placeholder)"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = "placeholder: put the key with aws ssm put-parameter --overwrite"
  tags        = var.tags

  lifecycle {
    ignore_changes = [value]
  }
}
