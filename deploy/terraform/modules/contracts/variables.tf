variable "prefix" {
  description = "Name prefix of the environment (e.g. shoebox-dev): the registry is <prefix>-events."
  type        = string
}

variable "schema_dir" {
  description = "Directory of the Draft 4 documents, one <event type>.v<N>.json per event version (schemas/events-draft4)."
  type        = string
}
