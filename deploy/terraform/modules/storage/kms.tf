# One customer-managed key for the stack's data at rest: the media bucket, both tables, the Gemini key's
# parameter, the log groups and the alarm topic. Its policy names every action: no "kms:*".

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account = data.aws_caller_identity.current.account_id
  region  = data.aws_region.current.name
  root    = "arn:${data.aws_partition.current.partition}:iam::${local.account}:root"
}

data "aws_iam_policy_document" "key_policy" {
  # checkov:skip=CKV_AWS_111: a key policy: Resource "*" is this key and nothing else, and the account statement delegates to IAM policies, which grant each role only what it uses
  # checkov:skip=CKV_AWS_356: a key policy: Resource "*" is this key and nothing else
  # checkov:skip=CKV_AWS_109: a key policy: the account keeps PutKeyPolicy so it can never be locked out of its own key (AWS's default key policy does the same)
  statement {
    sid = "AccountAdministersAndDelegatesToIam"
    principals {
      type        = "AWS"
      identifiers = [local.root]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisStacksLogGroups"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${data.aws_partition.current.partition}:logs:${local.region}:${local.account}:log-group:*"]
    }
  }

  statement {
    # CloudWatch alarms publish to the encrypted alarm topic
    sid = "CloudWatchAlarmsPublishToTheAlarmTopic"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${var.prefix}: media, tables, parameters, logs and alarms at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key_policy.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}
