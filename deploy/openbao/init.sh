#!/bin/sh
# EVALUATION ONLY. Initialises (first run) and unseals the compose stack's OpenBao, mounts KV v2
# at secret/, and hands the facade a token. The unseal key and the root token are kept in the
# openbao-keys volume, next to the data they protect; the facade gets the ROOT token. A real
# deployment uses an external Vault with auto-unseal and a login method with a narrow policy
# (README: "Production topology", "How the facade logs in to Vault").
# Run again after every OpenBao restart (a restarted server is sealed): it only unseals then.
set -eu
export BAO_ADDR="${BAO_ADDR:-http://openbao:8200}"
KEYS_DIR="${KEYS_DIR:-/openbao/keys}"
TOKEN_DIR="${TOKEN_DIR:-/openbao/token}"
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
bao operator unseal "$unseal_key" >/dev/null
export BAO_TOKEN="$root_token"
retry bao secrets list
if ! bao secrets list -format=json | grep -q '"secret/"'; then
  bao secrets enable -path=secret kv-v2 >/dev/null
  echo "openbao-init: mounted KV v2 at secret/"
fi
retry bao read secret/config  # the mount answers once it is ready for reads and writes
printf '%s' "$root_token" >"$TOKEN_DIR/token.tmp"
chmod 0444 "$TOKEN_DIR/token.tmp"
mv "$TOKEN_DIR/token.tmp" "$TOKEN_DIR/token"
echo "openbao-init: unsealed; facade token in $TOKEN_DIR/token"
