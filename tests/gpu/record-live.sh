#!/usr/bin/env bash
# Record gpu_facts on a real NVIDIA host, with the nvidia-smi outputs it parsed, for the unit
# test fixtures (tests/unit/plugins/modules/fixtures/nvidia-smi/*-live/).
#   bash tests/gpu/record-live.sh OUTDIR
# Needs ansible-core on the host. Wheels in ./.whl (for a host without a package index) are
# installed into /tmp/site first. Reads only: nothing on the host is changed.
set -eu
OUT=${1:?usage: record-live.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
fields=$(python3 -c "import ast,sys; t=ast.parse(open(sys.argv[1]).read()); print(','.join(next(ast.literal_eval(n.value) for n in t.body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'QUERY_GPU_FIELDS')))" "$repo/plugins/module_utils/_nvidia.py")

{
  echo "== date"; date -u
  echo "== os"; cat /etc/os-release; uname -a
  echo "== nvidia-smi"; nvidia-smi
  echo "== nvidia-smi -L"; nvidia-smi -L
  echo "== kernel module version"; cat /sys/module/nvidia/version
  echo "== PCI devices (sysfs)"
  for d in /sys/bus/pci/devices/*; do
    echo "$(basename "$d") vendor=$(cat "$d/vendor") device=$(cat "$d/device") class=$(cat "$d/class") driver=$(basename "$(readlink "$d/driver" || true)")"
  done
} > "$OUT/env.txt" 2>&1 || true
nvidia-smi --query-gpu="$fields" --format=csv,noheader,nounits > "$OUT/query-gpu.csv"
nvidia-smi --query-gpu="$fields" --format=csv > "$OUT/query-gpu-header.csv"
nvidia-smi -q -x > "$OUT/nvidia-smi-q.xml"

if [ -d "$repo/.whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$repo"/.whl/*.whl
  export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
collections=$(mktemp -d)
mkdir -p "$collections/ansible_collections/selfhosted_ai"
ln -s "$repo" "$collections/ansible_collections/selfhosted_ai/stack"
: > "$collections/ansible.cfg"
cd "$collections"
OUT=$OUT ANSIBLE_COLLECTIONS_PATH=$collections ANSIBLE_CONFIG=$collections/ansible.cfg ANSIBLE_LOCALHOST_WARNING=false \
  ansible-playbook -i localhost, "$repo/tests/gpu/record-live.yml"
