"""Overture: a Kubernetes-native, declarative data orchestrator."""

__version__ = "0.1.0"
