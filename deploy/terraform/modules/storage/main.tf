# The media bucket: uploads (browser PUTs to presigned URLs) and every file derived from them.

resource "aws_s3_bucket" "media" {
  # checkov:skip=CKV_AWS_21: no versioning on purpose: media expires per prefix within days and a deleted session's photos must really go; old versions would keep people's photos past their deletion
  # checkov:skip=CKV_AWS_144: no cross-region replication: the bucket holds working copies that expire within days, not the originals
  # checkov:skip=CKV_AWS_18: no server access log bucket: every object is reached through a presigned URL the API issues and logs per session; CloudTrail data events are the account's choice
  bucket        = "${var.prefix}-media"
  force_destroy = false
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "media" {
  bucket                  = aws_s3_bucket.media.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    # one data key per bucket rather than per object: far fewer KMS calls for thousands of thumbnails
    bucket_key_enabled = true
  }
}

# S3 sends Object Created to the account's default bus; the topology's `uploads` rules take it from there.
resource "aws_s3_bucket_notification" "media" {
  bucket      = aws_s3_bucket.media.id
  eventbridge = true
}

# CORS (the upload page's origin only) is the root module's cors.tf: the page is served by the API, whose
# URL exists only after the api module, which needs this bucket.

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id

  # a page closed mid-upload leaves parts that are billed and never listed
  rule {
    id     = "abort-stale-multipart"
    status = "Enabled"
    filter {
      prefix = ""
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  dynamic "rule" {
    for_each = var.expiration_days
    content {
      id     = "expire-${rule.key}"
      status = "Enabled"
      filter {
        prefix = "${rule.key}/"
      }
      expiration {
        days = rule.value
      }
    }
  }
}

data "aws_iam_policy_document" "media" {
  # A Deny only narrows: it may name every S3 action.
  statement {
    sid     = "DenyNonTls"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_s3_bucket.media.arn, "${aws_s3_bucket.media.arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "media" {
  bucket = aws_s3_bucket.media.id
  policy = data.aws_iam_policy_document.media.json
  # the policy after the public access block, so a plan never races the two
  depends_on = [aws_s3_bucket_public_access_block.media]
}
