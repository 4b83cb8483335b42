"""vaultauth: integration credentials in Vault KV v2, served through the Integration Auth API."""

__version__ = "0.1.0"
