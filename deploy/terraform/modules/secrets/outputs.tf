output "gemini_key_parameter_name" {
  description = "The SSM parameter holding the Gemini key (SHOEBOX_AI_GEMINI_API_KEY_PARAMETER)"
  value       = aws_ssm_parameter.gemini_api_key.name
}

output "gemini_key_parameter_arn" {
  description = "Its ARN (ssm:GetParameter)"
  value       = aws_ssm_parameter.gemini_api_key.arn
}

output "kms_key_arn" {
  description = "The key that encrypts it (kms:Decrypt)"
  value       = local.kms_key_arn
}
