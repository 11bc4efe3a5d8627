# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""n8n queue-mode benchmark on the molecule scenario n8n_queue (three hosts, real n8n).

Brings the scenario up with ``molecule converge`` (site.yml over n8n-main, n8n-worker1 and
n8n-worker2), then, in one run on the same machine:

* times a second ``molecule converge``: the no-op rerun of the scenario's site.yml (changed=0 is
  checked, not assumed);
* calls the scenario's webhook through Caddy over HTTPS (the exported internal CA), with 2 workers
  and with 1 (n8n on n8n-worker2 stopped), alternating, and prints executions per second of each.
  Every call must answer 200 with the right square, or the benchmark fails.

Two workloads: ``--wait-ms 0`` (the workflow only squares: measures the queue's own overhead,
where main, Valkey and the proxy dominate) and a workflow that keeps each execution in flight for
``--busy-ms`` (measures what workers add: each takes n8n_worker_concurrency executions at once).

usage: .venv/bin/python benchmarks/n8n_bench.py [--calls 200] [--parallel 20] [--rounds 2] [--keep]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SCENARIO = "n8n_queue"
SCENARIO_DIR = os.path.join(ROOT, "molecule", SCENARIO)
CALLER = os.path.join(SCENARIO_DIR, "files", "call_webhook.py")
MAIN, WORKER2 = "n8n-main", "n8n-worker2"
NETWORK = "molecule-n8n-queue"


def molecule(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + os.environ["PATH"],
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    return subprocess.run([os.path.join(ROOT, ".venv", "bin", "molecule"), *args, "-s", SCENARIO],
                          cwd=ROOT, env=env, text=True, capture_output=True, check=False)


def exported_ca() -> str:
    """The root certificate the reverse_proxy role exported next to molecule's inventory."""
    pattern = os.path.expanduser("~/.ansible/tmp/molecule.*.%s/inventory/.secrets/caddy-root-%s.crt"
                                 % (SCENARIO, MAIN))
    found = sorted(glob.glob(pattern), key=os.path.getmtime)
    if not found:
        sys.exit("n8n_bench: no exported CA at %s" % pattern)
    return found[-1]


def instance_ip(name: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f",
                          "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK, name],
                         text=True, capture_output=True, check=True)
    return out.stdout.strip()


def worker2_n8n(action: str) -> None:
    """Stop or start n8n on n8n-worker2 (its Docker engine runs inside the instance)."""
    subprocess.run(["docker", "exec", WORKER2, "docker", action, "n8n-worker"],
                   check=True, capture_output=True)
    if action == "start":
        deadline = time.time() + 120
        while time.time() < deadline:
            health = subprocess.run(["docker", "exec", WORKER2, "docker", "inspect", "-f",
                                     "{{.State.Health.Status}}", "n8n-worker"],
                                    text=True, capture_output=True, check=False).stdout.strip()
            if health == "healthy":
                return
            time.sleep(2)
        sys.exit("n8n_bench: n8n-worker on %s did not become healthy again" % WORKER2)


def batch(ip: str, ca: str, key: str, calls: int, parallel: int, wait_ms: int) -> float:
    """Run one batch of webhook calls; return successful executions per second."""
    out = subprocess.run([sys.executable, CALLER, "--ip", ip, "--host", "n8n.n8n-queue.test",
                          "--ca", ca, "--header", "X-Molecule-Key: %s" % key,
                          "--count", str(calls), "--parallel", str(parallel),
                          "--wait-ms", str(wait_ms)],
                         text=True, capture_output=True, check=True)
    result = json.loads(out.stdout)
    bad = [c for c in result["calls"]
           if c["status"] != 200 or not isinstance(c.get("body"), dict)
           or c["body"].get("square") != c["n"] * c["n"]]
    if bad:
        sys.exit("n8n_bench: %d of %d calls failed, first: %s" % (len(bad), calls, bad[0]))
    return calls / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--calls", type=int, default=200, help="webhook calls per batch")
    parser.add_argument("--parallel", type=int, default=20, help="calls in flight at once")
    parser.add_argument("--rounds", type=int, default=2, help="1-worker/2-worker pairs per workload")
    parser.add_argument("--busy-ms", type=int, default=200,
                        help="how long each execution of the second workload stays in flight")
    parser.add_argument("--keep", action="store_true", help="leave the scenario's instances up")
    args = parser.parse_args()

    print("n8n_bench: load before: %s" % open("/proc/loadavg").read().strip())
    started = time.time()
    for step in ("create", "prepare", "converge"):
        run = molecule(step)
        if run.returncode:
            sys.exit("n8n_bench: molecule %s failed:\n%s" % (step, run.stdout[-4000:] + run.stderr[-2000:]))
    print("n8n_bench: first converge (create, prepare, site.yml): %.0f s" % (time.time() - started))

    started = time.time()
    rerun = molecule("converge")
    noop_seconds = time.time() - started
    output = rerun.stdout + rerun.stderr  # molecule writes Ansible's output to either, by version
    changed = [int(n) for n in re.findall(r"changed=(\d+)", output)]
    if rerun.returncode or not changed or any(changed):
        sys.exit("n8n_bench: the rerun was not a no-op (changed=%s):\n%s" % (changed, output[-4000:]))
    print("n8n_bench: no-op rerun of site.yml (molecule converge, 3 hosts, changed=0): %.1f s" % noop_seconds)

    ca = exported_ca()
    ip, key = instance_ip(MAIN), "molecule-webhook-key"
    batch(ip, ca, key, 20, args.parallel, 0)  # warm-up: first executions load code on each worker

    for label, wait_ms in (("square only (wait 0 ms)", 0), ("in flight %d ms" % args.busy_ms, args.busy_ms)):
        rates = {1: [], 2: []}
        for _round in range(args.rounds):
            worker2_n8n("stop")
            rates[1].append(batch(ip, ca, key, args.calls, args.parallel, wait_ms))
            worker2_n8n("start")
            rates[2].append(batch(ip, ca, key, args.calls, args.parallel, wait_ms))
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print("n8n_bench: %-26s 1 worker %6.1f exec/s   2 workers %6.1f exec/s   ratio %.2f   (%s)"
              % (label, one, two, two / one, ", ".join("%.1f" % r for r in rates[1] + rates[2])))

    print("n8n_bench: load after: %s" % open("/proc/loadavg").read().strip())
    if not args.keep:
        molecule("destroy")


if __name__ == "__main__":
    main()
