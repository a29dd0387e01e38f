# rota-rotate-root: the token of the monthly root-credential rotation (rota-rotate-root.timer).
path "database/rotate-root/rota" { capabilities = ["update"] }
