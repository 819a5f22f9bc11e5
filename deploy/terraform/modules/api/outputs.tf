output "api_url" {
  description = "The API's URL (the page is at its /)"
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "api_id" {
  description = "The HTTP API's id"
  value       = aws_apigatewayv2_api.http.id
}

output "api_function_name" {
  description = "The API's Lambda function (for the errors and duration alarms)"
  value       = aws_lambda_function.api.function_name
}

output "api_function_timeout" {
  description = "The API function's timeout (seconds), for its duration alarm"
  value       = aws_lambda_function.api.timeout
}

output "api_role_arn" {
  description = "The API function's IAM role"
  value       = aws_iam_role.api.arn
}

output "user_pool_id" {
  description = "The Cognito user pool (operators add users to it)"
  value       = aws_cognito_user_pool.users.id
}

output "user_pool_client_id" {
  description = "The page's app client id (the tokens' audience)"
  value       = aws_cognito_user_pool_client.page.id
}

output "issuer" {
  description = "The tokens' issuer (SHOEBOX_AUTH_ISSUER)"
  value       = local.issuer
}

output "hosted_ui_url" {
  description = "The Cognito hosted UI (SHOEBOX_AUTH_HOSTED_UI_URL)"
  value       = local.hosted_ui_url
}
