"""Watchers that feed runtime configuration to the service (docs/architecture.md).

- file_watch: a mounted ConfigMap file or directory, updated by the kubelet's `..data` swap;
- kube_watch: the policy ConfigMap through the Kubernetes API (list + watch);
- events: Kubernetes Events reporting each reload, the way an operator reports status;
- kube_client: the only module that imports the `kubernetes` package;
- initial: the policy to start with (file, ConfigMap or built-in), read once at start-up.

This package depends on app.policy_source (the watchers feed its PolicyManager), never the
reverse.
"""
