# The media bucket's CORS rule: the upload page's origins only (it PUTs to presigned URLs and reads each
# part's ETag; deploy/local/provision.py writes the same rule). The page is served by the API, so its origin
# is the API's, known after the api module, which itself needs the bucket: the rule lives here, not in the
# storage module, so one apply sets it.
resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = module.storage.bucket_name

  cors_rule {
    allowed_methods = ["GET", "PUT", "HEAD"]
    allowed_origins = distinct(concat([local.api_origin], var.page_origins))
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}
