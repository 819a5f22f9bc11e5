# PLACEHOLDER (tfinfra): the interface of modules/contracts (/work/notes/iac-interface.md), so the root parses;
# the contracts engineer writes the real module and the lead takes theirs at merge.

variable "prefix" {
  type = string
}
variable "schema_dir" {
  type = string
}
