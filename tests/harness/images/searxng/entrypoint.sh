#!/bin/sh
# As the official image's entrypoint: the configuration and cache directories (volumes) belong to
# searxng, a missing settings file is created from the default settings with a random secret_key
# (a mounted one is used as it is), then granian serves SearXNG.
set -eu
for dir in "$CONFIG_PATH" "$DATA_PATH"; do
  if [ "$(id -u)" -eq 0 ] && [ "${FORCE_OWNERSHIP:-true}" = true ] \
     && [ "$(stat -c %U:%G "$dir")" != searxng:searxng ]; then
    chown -R searxng:searxng "$dir"
  fi
done
if [ ! -f "$SEARXNG_SETTINGS_PATH" ]; then
  echo "$SEARXNG_SETTINGS_PATH does not exist, creating it from the default settings"
  secret=$(head -c 24 /dev/urandom | base64 | tr -dc 'a-zA-Z0-9')
  sed "s/ultrasecretkey/$secret/" /usr/local/searxng/searx/settings.yml >"$SEARXNG_SETTINGS_PATH"
  chown searxng:searxng "$SEARXNG_SETTINGS_PATH" 2>/dev/null || true
fi
exec /usr/local/searxng/venv/bin/granian searx.webapp:app
