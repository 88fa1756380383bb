"""Connectors: components that are an exporter in some pipelines and a receiver in others."""
