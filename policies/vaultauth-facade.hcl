#! Template: `vaultauth policies facade --mount <mount> --prefix <prefix>` renders it
#! (lines starting with #! are dropped). Kept identical to policies/ at the top of the repo.
# vaultauth-facade: what the vaultauth facade needs on <mount>/<prefix>, and nothing else.
# Renewing its own token (auth/token/renew-self, lookup-self) comes with Vault's `default` policy.

# Secret documents, <prefix>/<tenant>/integrations/<integrationId>/auth/<authId>:
# create (write with cas=0), read (a version), update (write with cas=N). No delete here:
# a record's versions are removed through its metadata below.
path "<mount>/data/<prefix>/*" {
  capabilities = ["create", "read", "update"]
}

# KV metadata: delete removes every version of a deleted record; read (current version) and
# list (secrets without a record) serve `vaultauth reconcile`.
path "<mount>/metadata/<prefix>/*" {
  capabilities = ["read", "delete", "list"]
}
