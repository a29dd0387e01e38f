"""Vault/OpenBao through hvac: secrets from KV v2, database users from the database engine,
the bootstrap of a server for Rota (issue 6; ops/vault/README.md)."""
