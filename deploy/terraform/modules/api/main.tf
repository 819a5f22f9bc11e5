# The HTTP API in front of the API's Lambda (services.api.lambda_function.handler, the same Litestar app
# uvicorn serves locally), a Cognito user pool whose hosted UI the page signs in through (OAuth code flow
# with PKCE), and a JWT authorizer on every /v1 route. The page and its files are public.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  function_name = "${var.prefix}-api-http"
  region        = data.aws_region.current.name
  issuer        = "https://${aws_cognito_user_pool.users.endpoint}"
  hosted_ui_url = "https://${aws_cognito_user_pool_domain.hosted_ui.domain}.auth.${local.region}.amazoncognito.com"
  # the Host values the app answers (its DNS-rebinding check): the API's own, and each callback origin's
  api_hosts = concat(
    [trimprefix(aws_apigatewayv2_api.http.api_endpoint, "https://")],
    [for o in var.callback_origins : replace(trimsuffix(o, "/"), "/^https?:\\/\\//", "")],
  )
  # the page is served at / (services/api/page.py): it is also the OAuth redirect and the logout target
  page_urls = concat(["${aws_apigatewayv2_api.http.api_endpoint}/"], [for o in var.callback_origins : "${trimsuffix(o, "/")}/"])

  # the page (services/api/page.py: /, /static/{name}, /auth/config) and the health check: no token
  public_routes = ["GET /", "GET /static/{name}", "GET /auth/config", "GET /health"]
  # every API route is under /v1 (services/api/app.py's protected router): a token on each
  protected_routes = ["ANY /v1/{proxy+}"]
}

# ----------------------------------------------------------------------------- Cognito
resource "aws_cognito_user_pool" "users" {
  name                     = "${var.prefix}-users"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  deletion_protection      = "ACTIVE"
  mfa_configuration        = "OPTIONAL"
  # threat protection (user_pool_add_ons) exists only in the PLUS plan since Cognito's feature plans
  user_pool_tier = var.user_pool_tier

  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  admin_create_user_config {
    allow_admin_create_user_only = var.admin_creates_users
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  user_pool_add_ons {
    advanced_security_mode = var.advanced_security_mode
  }

  tags = var.tags
}

resource "aws_cognito_user_pool_domain" "hosted_ui" {
  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.users.id
}

# the page's client: public (no secret: it runs in a browser), code flow with PKCE, back to the page
resource "aws_cognito_user_pool_client" "page" {
  name                                 = "${var.prefix}-page"
  user_pool_id                         = aws_cognito_user_pool.users.id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = local.page_urls
  logout_urls                          = local.page_urls
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true

  access_token_validity  = 60
  id_token_validity      = 60
  refresh_token_validity = 12
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "hours"
  }
}

# ----------------------------------------------------------------------------- the function
resource "aws_cloudwatch_log_group" "function" {
  # checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts at rest by itself; a CMK is var.log_kms_key_arn (optional)
  # checkov:skip=CKV_AWS_338: retention is the operator's choice (var.log_retention_days)
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "api" {
  # checkov:skip=CKV_AWS_116: invoked synchronously by API Gateway: there is no asynchronous event to keep
  # checkov:skip=CKV_AWS_117: no VPC: it calls AWS' public endpoints only; a VPC would need NAT and endpoints for nothing it protects
  # checkov:skip=CKV_AWS_173: the environment holds names and settings only, no secret
  # checkov:skip=CKV_AWS_272: code signing applies to zip packages; this is a container image pinned by digest in ECR
  function_name = local.function_name
  role          = aws_iam_role.api.arn
  package_type  = "Image"
  image_uri     = var.image_uri
  architectures = ["x86_64"]
  memory_size   = var.memory_mb
  # API Gateway gives up after 30 s: the function must answer before
  timeout = 29

  reserved_concurrent_executions = var.reserved_concurrency

  image_config {
    command = ["services.api.lambda_function.handler"]
  }

  environment {
    variables = merge(var.environment, {
      OTEL_SERVICE_NAME                    = local.function_name
      SHOEBOX_AUTH_ISSUER                  = local.issuer
      SHOEBOX_AUTH_AUDIENCE                = aws_cognito_user_pool_client.page.id
      SHOEBOX_AUTH_HOSTED_UI_URL           = local.hosted_ui_url
      SHOEBOX_API_ALLOWED_HOSTS            = join(",", local.api_hosts)
      SHOEBOX_API_STREAM_MAX_S             = tostring(var.stream_max_s)
      SHOEBOX_AWS_STATE_MACHINE_ARN_PREFIX = "arn:${data.aws_partition.current.partition}:states:${local.region}:${data.aws_caller_identity.current.account_id}:stateMachine:"
    })
  }

  tracing_config {
    mode = "Active"
  }

  tags       = var.tags
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.api]
}

resource "aws_lambda_permission" "gateway" {
  statement_id  = "AllowHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*/*"
}

# ----------------------------------------------------------------------------- the HTTP API
resource "aws_apigatewayv2_api" "http" {
  name          = "${var.prefix}-api"
  protocol_type = "HTTP"
  # no CORS: the page is served by this API (same origin)
  tags = var.tags
}

resource "aws_apigatewayv2_authorizer" "cognito" {
  api_id           = aws_apigatewayv2_api.http.id
  name             = "cognito"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  # the page sends the ID token: its aud is the client id (the app verifies it again, SHOEBOX_AUTH_*)
  jwt_configuration {
    issuer   = local.issuer
    audience = [aws_cognito_user_pool_client.page.id]
  }
}

resource "aws_apigatewayv2_integration" "app" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.api.invoke_arn
  payload_format_version = "2.0"
  # HTTP APIs' maximum: the answer is buffered whole (no streaming), so the event stream is a long poll
  timeout_milliseconds = 30000
}

resource "aws_apigatewayv2_route" "public" {
  # checkov:skip=CKV_AWS_309: the page, its files, its sign-in settings and the health check are public by design: a browser loads them before it has a token
  for_each           = toset(local.public_routes)
  api_id             = aws_apigatewayv2_api.http.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.app.id}"
  authorization_type = "NONE"
}

resource "aws_apigatewayv2_route" "protected" {
  for_each           = toset(local.protected_routes)
  api_id             = aws_apigatewayv2_api.http.id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.app.id}"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.cognito.id
}

resource "aws_cloudwatch_log_group" "access" {
  # checkov:skip=CKV_AWS_158: CloudWatch Logs encrypts at rest by itself; a CMK is var.log_kms_key_arn (optional)
  # checkov:skip=CKV_AWS_338: retention is the operator's choice (var.log_retention_days)
  name              = "/aws/apigateway/${var.prefix}-api"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.throttle_burst
    throttling_rate_limit    = var.throttle_rate
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      ip                 = "$context.identity.sourceIp"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      authorizerError    = "$context.authorizer.error"
      sub                = "$context.authorizer.claims.sub"
    })
  }

  tags = var.tags
}
