#!/bin/sh
# EVALUATION ONLY. Initialises (first run) and unseals the compose stack's OpenBao, mounts KV v2
# at secret/, and hands the facade a token of the vaultauth-facade policy (periodic, renewed by
# the facade), readable by the facade's user only. The unseal key and the root token are kept in
# the openbao-keys volume (0600), next to the data they protect, and never appear on a command
# line. A real deployment uses an external Vault with auto-unseal and a login method with a
# narrow policy (docs/production.md; docs/policies.md, "How the facade logs in to Vault").
# Run again after every OpenBao restart (a restarted server is sealed): it unseals and issues a
# fresh facade token then.
set -eu
export BAO_ADDR="${BAO_ADDR:-http://openbao:8200}"
KEYS_DIR="${KEYS_DIR:-/openbao/keys}"
TOKEN_DIR="${TOKEN_DIR:-/openbao/token}"
POLICY_FILE="${POLICY_FILE:-/policies/vaultauth-facade.hcl}"
FACADE_UID="${FACADE_UID:-10001}" # the facade image's user (Dockerfile)
keys="$KEYS_DIR/init.txt"

retry() { # retry CMD...: up to 60 tries, 1 s apart
  n=0
  until "$@" >/dev/null 2>&1; do
    n=$((n + 1))
    [ "$n" -lt 60 ] || { echo "openbao-init: gave up on: $*" >&2; exit 1; }
    sleep 1
  done
}

answers() { # bao status exits 0 (unsealed) or 2 (sealed); 1 means no answer
  rc=0
  bao status >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 1 ]
}

retry answers
if ! bao status -format=json 2>/dev/null | grep -q '"initialized": true'; then
  (umask 077 && bao operator init -key-shares=1 -key-threshold=1 >"$keys.tmp")
  mv "$keys.tmp" "$keys"
  echo "openbao-init: initialised"
fi
unseal_key=$(awk '/^Unseal Key 1:/ {print $NF}' "$keys")
root_token=$(awk '/^Initial Root Token:/ {print $NF}' "$keys")
# From stdin (`key=-`), so the key is never on a command line that `ps` shows.
printf '%s' "$unseal_key" | bao write -format=json sys/unseal key=- >/dev/null
export BAO_TOKEN="$root_token"
retry bao secrets list
if ! bao secrets list -format=json | grep -q '"secret/"'; then
  bao secrets enable -path=secret kv-v2 >/dev/null
  echo "openbao-init: mounted KV v2 at secret/"
fi
retry bao read secret/config  # the mount answers once it is ready for reads and writes
# The shipped template, rendered for mount secret/ and prefix vaultauth (#! lines are notes).
grep -v '^#!' "$POLICY_FILE" | sed -e 's/<mount>/secret/g' -e 's/<prefix>/vaultauth/g' \
  | bao policy write vaultauth-facade - >/dev/null
(
  umask 077
  bao token create -policy=vaultauth-facade -period=24h -display-name=vaultauth-facade \
    -field=token >"$TOKEN_DIR/token.tmp"
)
if [ "$(id -u)" = 0 ]; then
  chown "$FACADE_UID" "$TOKEN_DIR/token.tmp" # the facade runs as that user
fi
chmod 0400 "$TOKEN_DIR/token.tmp"
mv "$TOKEN_DIR/token.tmp" "$TOKEN_DIR/token"
echo "openbao-init: unsealed; a vaultauth-facade token is in $TOKEN_DIR/token"
