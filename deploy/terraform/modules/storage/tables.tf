# The two tables, keyed exactly as deploy/local/provision.py creates them (a test compares the two).

# The event log: every service appends here; the relay reads its stream (NEW_IMAGE: shared/runtime/relay.py
# reads each record's NewImage) and publishes to the bus.
resource "aws_dynamodb_table" "events" {
  name                        = "${var.prefix}-events"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  stream_enabled              = true
  stream_view_type            = "NEW_IMAGE"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "N"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
  tags = var.tags
}

# The read models (projections of the log; `shoebox rebuild-views` rebuilds them). A session's items live as long
# as its log; the ephemeral ones carry `expires_at` (shared/runtime/read_models.py TTL_ATTRIBUTE: a multipart
# upload's MULTIPART# item, two days after it started, when S3 has long aborted the upload).
resource "aws_dynamodb_table" "views" {
  name                        = "${var.prefix}-views"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.data.arn
  }
  tags = var.tags
}
