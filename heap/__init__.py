"""Heap's account, teammate and SCIM provisioning domain: models, rules and services."""
