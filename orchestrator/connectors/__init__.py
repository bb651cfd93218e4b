"""pyinfra connectors labs uses to reach lab containers (see docker_sdk)."""
