#! Template: `vaultauth policies render --tenant <tenant> --integration <integration> ...`
#! renders it; the path block is repeated once per integration (lines starting with #! are
#! dropped). Kept identical to policies/ at the top of the repo.
# vaultauth-consumer: read the credentials of tenant <tenant>'s integrations <integration>,
# straight from Vault (vaultauth.client.VaultResolver), and nothing else: no writes, no listing,
# no KV metadata, no other integration and no other tenant.

path "<mount>/data/<prefix>/<tenant>/integrations/<integration>/auth/+" {
  capabilities = ["read"]
}
