"""Secret storage adapters (Vault KV v2)."""
