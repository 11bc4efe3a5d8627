#!/usr/bin/env bash
# The collection builds, the artifact installs, and ansible-doc reads every plugin from the
# installed copy (not from the working tree).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
BIN="$repo/.venv/bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$BIN/ansible-galaxy" collection build "$repo" --output-path "$work" >/dev/null
artifact=$(ls "$work"/selfhosted_ai-stack-*.tar.gz)
ANSIBLE_COLLECTIONS_PATH="$work/installed" "$BIN/ansible-galaxy" collection install "$artifact" -p "$work/installed" --no-deps --force >/dev/null
export ANSIBLE_COLLECTIONS_PATH="$work/installed"
installed="$work/installed/ansible_collections/selfhosted_ai/stack"
count=0
for type_dir in module:modules lookup:lookup filter:filter callback:callback; do
  type=${type_dir%%:*} dir=${type_dir#*:}
  for file in "$installed/plugins/$dir"/*.py; do
    [[ -e $file ]] || continue
    name=$(basename "$file" .py)
    [[ $name == __init__ ]] && continue
    "$BIN/ansible-doc" -t "$type" "selfhosted_ai.stack.$name" >/dev/null
    count=$((count + 1))
  done
done
# Jinja tests live several to a file, each documented by a <name>.yml beside it.
for file in "$installed"/plugins/test/*.yml; do
  [[ -e $file ]] || continue
  "$BIN/ansible-doc" -t test "selfhosted_ai.stack.$(basename "$file" .yml)" >/dev/null
  count=$((count + 1))
done
for role in "$installed"/roles/*/; do
  "$BIN/ansible-doc" -t role "selfhosted_ai.stack.$(basename "$role")" >/dev/null
  count=$((count + 1))
done
echo "build-check: $(basename "$artifact") builds and installs; ansible-doc reads $count plugins and roles"
