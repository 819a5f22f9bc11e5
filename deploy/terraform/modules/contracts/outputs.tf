# PLACEHOLDER (tfinfra): outputs as the interface fixes them; no resources.

output "registry_name" {
  value = "${var.prefix}-events"
}
output "registry_arn" {
  value = "arn:aws:schemas:placeholder:registry/${var.prefix}-events"
}
