"""Container images per service for Lambda (deploy/docker/images.py generates their files)."""
