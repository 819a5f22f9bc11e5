# PLACEHOLDER (tfinfra): outputs as the interface fixes them; no resources.

output "api_url" {
  value = "https://placeholder.execute-api.invalid"
}
output "api_id" {
  value = "placeholder"
}
output "api_function_name" {
  value = "${var.prefix}-api-http"
}
output "user_pool_id" {
  value = "placeholder"
}
output "user_pool_client_id" {
  value = "placeholder"
}
output "issuer" {
  value = "https://placeholder.invalid"
}
output "hosted_ui_url" {
  value = "https://${var.cognito_domain_prefix}.auth.placeholder.amazoncognito.com"
}
