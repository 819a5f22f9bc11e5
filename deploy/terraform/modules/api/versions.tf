terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # user_pool_tier (the Cognito feature plan) is in the provider from 5.83
      version = ">= 5.83, < 6.0"
    }
  }
}
