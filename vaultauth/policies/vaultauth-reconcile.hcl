#! Template: `vaultauth policies reconcile --mount <mount> --prefix <prefix>` renders it
#! (lines starting with #! are dropped). Kept identical to policies/ at the top of the repo.
# vaultauth-reconcile: what `vaultauth reconcile [--repair]` needs on <mount>/<prefix>, and
# nothing else; run it with a token of its own, not the facade's.

# Secret documents: read a version (rolling the index forward, adopting an orphan).
path "<mount>/data/<prefix>/*" {
  capabilities = ["read"]
}

# KV metadata: list every secret under the prefix, read its current version and dates, and
# delete a record's versions when --repair finishes a delete or destroys an orphan.
path "<mount>/metadata/<prefix>/*" {
  capabilities = ["read", "list", "delete"]
}
