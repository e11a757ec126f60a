"""Released models: the registry (name, version, fingerprint, files) and loading their weights."""
