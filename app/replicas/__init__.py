"""Read replicas: where a read is answered when READ_REPLICA_URL is set (service.py)."""
