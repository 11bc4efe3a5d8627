#!/usr/bin/env bash
# As the official image's start.sh: without WEBUI_SECRET_KEY (or WEBUI_JWT_SECRET_KEY) the key is
# generated once into .webui_secret_key beside this script (outside the data volume: lost when the
# container is re-created), then the server listens on HOST:PORT.
cd "$(dirname "$0")" || exit 1
if [ -z "${WEBUI_SECRET_KEY:-}${WEBUI_JWT_SECRET_KEY:-}" ]; then
  unset WEBUI_SECRET_KEY
else
  export WEBUI_SECRET_KEY="${WEBUI_SECRET_KEY:-$WEBUI_JWT_SECRET_KEY}"
fi
exec open-webui serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8080}"
