"""Adapters to the Kubernetes API: the client, the watch cache, Job manifests and observations."""
