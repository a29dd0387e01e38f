# rota-migrate: written by `rota admin vault-bootstrap` (ops/vault/README.md).
path "database/creds/rota-migrate" { capabilities = ["read"] }

# Keep the token and the leases this process holds alive.
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
