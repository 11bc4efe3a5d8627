#!/usr/bin/env bash
# Runs `ansible-test sanity` on a copy of the collection placed where ansible-test expects it
# (ansible_collections/selfhosted_ai/stack). Extra arguments go to ansible-test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

# ansible-test bootstraps pip in its virtual environments with a get-pip script from
# ci-files.testing.ansible.com, which machines with only PyPI cannot reach. A stand-in that
# uses ensurepip and PyPI takes its place in ansible-test's cache.
pip_version=$("$repo/.venv/bin/python" -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.(\d+\.\d+)", inspect.getsource(r.get_venv_packages)).group(1))')
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -s $cache ]]; then
  mkdir -p "$(dirname "$cache")"
  cp "$repo/tests/sanity/get_pip_standin.py" "$cache"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/selfhosted_ai/stack"
mkdir -p "$dest"
# Only what git tracks or would track (untracked, not ignored) goes into the copy.
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zv '^\.collections/' | rsync -a --from0 --files-from=- ./ "$dest/")
cd "$dest"
git init -q && git add -A >/dev/null
"$repo/.venv/bin/ansible-test" sanity --python 3.11 --requirements --color no "$@"
