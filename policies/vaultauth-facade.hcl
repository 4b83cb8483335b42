#! Template: `vaultauth policies facade --mount <mount> --prefix <prefix>` renders it
#! (lines starting with #! are dropped). Kept identical to policies/ at the top of the repo.
# vaultauth-facade: what the vaultauth facade needs on <mount>/<prefix>, and nothing else.
# Renewing its own token (auth/token/renew-self, lookup-self) comes with Vault's `default` policy.
# Listing is not here: only `vaultauth reconcile` lists, under vaultauth-reconcile.

# Secret documents, <prefix>/<tenant>/integrations/<integrationId>/auth/<authId>:
# create (write with cas=0), read (a version), update (write with cas=N). No delete here:
# a record's versions are removed through its metadata below.
path "<mount>/data/<prefix>/*" {
  capabilities = ["create", "read", "update"]
}

# KV metadata: read (a record's current version, its list of versions), create and update
# (the number of versions kept), delete (every version of a deleted record).
path "<mount>/metadata/<prefix>/*" {
  capabilities = ["create", "read", "update", "delete"]
}
