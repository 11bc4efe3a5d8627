#!/bin/sh
# The official OpenBao image's entrypoint, re-implemented: `server` gets -config=/openbao/config
# (plus dev-mode listen/root-token variables), BAO_LOCAL_CONFIG becomes a config file, and the
# server runs as user openbao.
set -e
BAO_CONFIG_DIR=/openbao/config
if [ -n "$BAO_LOCAL_CONFIG" ]; then echo "$BAO_LOCAL_CONFIG" > "$BAO_CONFIG_DIR/local.json"; fi
if [ "${1#-}" != "$1" ]; then set -- bao "$@"; fi
if [ "$1" = 'server' ]; then
  shift
  set -- bao server -config="$BAO_CONFIG_DIR" \
    ${BAO_DEV_LISTEN_ADDRESS:+-dev-listen-address="$BAO_DEV_LISTEN_ADDRESS"} \
    ${BAO_DEV_ROOT_TOKEN_ID:+-dev-root-token-id="$BAO_DEV_ROOT_TOKEN_ID"} "$@"
elif [ "$1" != 'bao' ] && ! command -v "$1" >/dev/null 2>&1; then
  set -- bao "$@"
fi
if [ "$1" = 'bao' ] && [ "$(id -u)" = '0' ]; then
  chown -R openbao:openbao /openbao/file /openbao/logs 2>/dev/null || true
  exec gosu openbao "$@"
fi
exec "$@"
