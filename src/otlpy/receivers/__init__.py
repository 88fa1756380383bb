"""Receivers: components that take telemetry in from the outside and hand it to pipelines."""
