#!/usr/bin/env bash
# usage: sanity.sh [ansible-test sanity args...]  — runs ansible-test sanity on a copy of the collection
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
dest="$work/ansible_collections/selfhosted_ai/stack"
mkdir -p "$dest"
rsync -a --exclude .venv --exclude .collections --exclude .cache --exclude .harness --exclude .git "$repo/" "$dest/"
cd "$dest"
git init -q && git add -A >/dev/null
"$repo/.venv/bin/ansible-test" sanity --python 3.11 --requirements "$@"
rm -rf "$work"
