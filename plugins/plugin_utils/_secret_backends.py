# Copyright (c) selfhosted_ai.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# FOR INTERNAL COLLECTION USE ONLY: the interface may change in any release.
"""Storage backends of the selfhosted_ai.stack.secret lookup.

Each backend stores a secret as a flat dict of string fields under a validated name and
offers ``read(name)`` and ``get_or_create(name, generators, dry_run=False)``. The latter
returns ``(fields, created)``; fields missing from an existing secret are added, fields
already there are never changed. Two concurrent first calls agree on one value: the file
backend creates with an atomic link (fails if the file exists), the Vault backend writes
with KV v2 check-and-set. Error messages name secrets, never their values.
"""

import errno
import fcntl
import json
import os
import re
import stat
import tempfile
import time

from ansible_collections.selfhosted_ai.stack.plugins.module_utils._vault import VaultError

NAME_MAX = 200
_SEGMENT = r'[A-Za-z0-9][A-Za-z0-9_.-]{0,99}'
NAME_RE = re.compile(r'^%s(/%s)*$' % (_SEGMENT, _SEGMENT))
_CAS_ATTEMPTS = 5


class SecretBackendError(Exception):
    """A storage problem, described for a person; never carries secret values."""


def validate_name(name):
    """Refuse anything but ``segment[/segment...]`` of letters, digits, ``_ . -``.

    No empty, absolute or ``..`` segments, no leading dots (hidden files), no spaces or
    control characters: a name maps to one path below the backend's root and nowhere else.
    """
    if not isinstance(name, str) or not name:
        raise SecretBackendError('a secret name must be a non-empty string')
    if len(name) > NAME_MAX or not NAME_RE.match(name) or '..' in name.split('/'):
        raise SecretBackendError(
            'invalid secret name %r: use segments of letters, digits, "_", "." and "-" separated by "/", '
            'each starting with a letter or digit (no absolute paths, "..", spaces or other characters, '
            'at most %d characters)' % (name[:80], NAME_MAX)
        )
    return name


def _missing(existing, generators):
    return [f for f in generators if not isinstance(existing.get(f), str) or existing.get(f) == '']


def _check_fields(name, data):
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise SecretBackendError('secret %r is stored in an unexpected shape (expected a mapping of fields)' % name)
    return data


class FileSecretBackend:
    """One JSON file per secret, ``<directory>/<name>.json``, mode 0600, in 0700 directories."""

    FILE_MODE = 0o600
    DIR_MODE = 0o700

    def __init__(self, directory):
        if not directory:
            raise SecretBackendError('the file backend needs a directory (option secret_dir)')
        self.directory = os.path.abspath(os.path.expanduser(directory))

    def describe(self, name):
        return 'secret %r in %s' % (name, self.directory)

    # -------------------------------------------------------------- paths and modes
    def _check_private_dir(self, path, follow=False):
        st = os.stat(path) if follow else os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise SecretBackendError('%s exists but is not a directory' % path)
        if st.st_uid != os.geteuid():
            raise SecretBackendError(
                'secret directory %s belongs to uid %d, not to the user running Ansible (uid %d)'
                % (path, st.st_uid, os.geteuid())
            )
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise SecretBackendError(
                'secret directory %s has mode %04o: others could read the secrets; '
                'run chmod 700 %s' % (path, stat.S_IMODE(st.st_mode), path)
            )

    def _ensure_root(self, create):
        root = self.directory
        if not os.path.exists(root):
            if not create:
                return False
            parent = os.path.dirname(root)
            if not os.path.isdir(parent):
                raise SecretBackendError('cannot create secret directory %s: %s does not exist' % (root, parent))
            try:
                os.mkdir(root, self.DIR_MODE)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise SecretBackendError('cannot create secret directory %s: %s' % (root, e.strerror)) from e
            else:
                os.chmod(root, self.DIR_MODE)
                self._write_gitignore(root)
        # The root itself may be a symlink (to an encrypted volume, say); below it, no links.
        self._check_private_dir(root, follow=True)
        return True

    @staticmethod
    def _write_gitignore(root):
        try:
            fd = os.open(os.path.join(root, '.gitignore'), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError:
            return
        with os.fdopen(fd, 'w') as f:
            f.write('# secrets written by selfhosted_ai.stack.secret: never commit them\n*\n')

    def _path(self, name, create_dirs):
        """Absolute path of the file for ``name``; creates the private directories on demand."""
        validate_name(name)
        parts = name.split('/')
        current = self.directory
        for part in parts[:-1]:
            current = os.path.join(current, part)
            if create_dirs:
                try:
                    os.mkdir(current, self.DIR_MODE)
                    os.chmod(current, self.DIR_MODE)
                except OSError as e:
                    if e.errno != errno.EEXIST:
                        raise SecretBackendError('cannot create directory %s: %s' % (current, e.strerror)) from e
            if os.path.lexists(current):
                self._check_private_dir(current)
            elif not create_dirs:
                return None
        path = os.path.join(current, parts[-1] + '.json')
        # Belt and braces: the validated name cannot leave the root, check it anyway.
        if os.path.commonpath([self.directory, os.path.abspath(path)]) != self.directory:
            raise SecretBackendError('secret name %r leaves the secret directory' % name)
        return path

    # -------------------------------------------------------------- read / write
    def _read_file(self, name, path):
        """The fields stored at ``path``, or None when there is no such file."""
        for attempt in range(20):
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
            except OSError as e:
                if e.errno == errno.ENOENT:
                    return None
                if e.errno == errno.ELOOP:
                    raise SecretBackendError('%s is a symbolic link; refusing to follow it' % path) from None
                raise SecretBackendError('cannot read %s: %s' % (path, e.strerror)) from e
            with os.fdopen(fd, 'rb') as f:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise SecretBackendError('%s is not a regular file' % path)
                if stat.S_IMODE(st.st_mode) & 0o077:
                    raise SecretBackendError(
                        '%s has mode %04o: others could read it; run chmod 600 %s'
                        % (path, stat.S_IMODE(st.st_mode), path)
                    )
                content = f.read()
            try:
                return _check_fields(name, json.loads(content.decode('utf-8')))
            except (ValueError, UnicodeDecodeError):
                # A writer without hard-link support may still be filling the file: retry briefly.
                if attempt < 19 and len(content) == 0:
                    time.sleep(0.05)
                    continue
                raise SecretBackendError('%s is not a JSON object of fields; fix or remove it' % path) from None
        raise SecretBackendError('%s stays empty' % path)

    def _write_temp(self, path, data):
        fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix='.json', dir=os.path.dirname(path))
        try:
            os.fchmod(fd, self.FILE_MODE)
            with os.fdopen(fd, 'wb') as f:
                f.write(json.dumps(data, sort_keys=True, indent=2).encode('utf-8') + b'\n')
                f.flush()
                os.fsync(f.fileno())
        except Exception:
            os.unlink(tmp)
            raise
        return tmp

    @staticmethod
    def _fsync_dir(path):
        try:
            fd = os.open(os.path.dirname(path), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _create_exclusive(self, path, data):
        """Create ``path`` with ``data`` unless it exists; True when this call created it."""
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, path)  # atomic, fails with EEXIST: the complete file appears or nothing
        except OSError as e:
            if e.errno == errno.EEXIST:
                return False
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise SecretBackendError('cannot create %s: %s' % (path, e.strerror)) from e
            return self._create_exclusive_nolink(path, data)
        finally:
            os.unlink(tmp)
        self._fsync_dir(path)
        return True

    def _create_exclusive_nolink(self, path, data):
        # File systems without hard links: O_EXCL still lets exactly one creator win.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), self.FILE_MODE)
        except OSError as e:
            if e.errno == errno.EEXIST:
                return False
            raise SecretBackendError('cannot create %s: %s' % (path, e.strerror)) from e
        with os.fdopen(fd, 'wb') as f:
            f.write(json.dumps(data, sort_keys=True, indent=2).encode('utf-8') + b'\n')
            f.flush()
            os.fsync(f.fileno())
        return True

    def _locked(self):
        fd = os.open(os.path.join(self.directory, '.lock'), os.O_RDWR | os.O_CREAT, self.FILE_MODE)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def read(self, name):
        if not self._ensure_root(create=False):
            validate_name(name)
            return None
        path = self._path(name, create_dirs=False)
        return None if path is None else self._read_file(name, path)

    def get_or_create(self, name, generators, dry_run=False):
        if dry_run:
            existing = self.read(name) or {}
            missing = _missing(existing, generators)
            result = dict(existing)
            result.update(dict((f, generators[f]()) for f in missing))
            return result, bool(missing)
        self._ensure_root(create=True)
        path = self._path(name, create_dirs=True)
        existing = self._read_file(name, path)
        if existing is None:
            data = dict((f, gen()) for f, gen in generators.items())
            if self._create_exclusive(path, data):
                return data, True
            existing = self._read_file(name, path)  # another run created it first: use its value
            if existing is None:
                raise SecretBackendError('%s vanished while it was being created' % path)
        if not _missing(existing, generators):
            return existing, False
        # Add missing fields under a lock, replacing the file atomically.
        fd = self._locked()
        try:
            existing = self._read_file(name, path) or {}
            missing = _missing(existing, generators)
            if not missing:
                return existing, False
            data = dict(existing)
            data.update(dict((f, generators[f]()) for f in missing))
            tmp = self._write_temp(path, data)
            os.rename(tmp, path)
            self._fsync_dir(path)
            return data, True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class VaultSecretBackend:
    """KV version 2 secrets at ``<mount_point>/data/<path_prefix>/<name>``."""

    def __init__(self, connection, mount_point='secret', path_prefix='selfhosted_ai'):
        self.connection = connection
        self.mount_point = (mount_point or 'secret').strip('/')
        prefix = (path_prefix or '').strip('/')
        if prefix:
            validate_name(prefix)
        self.path_prefix = prefix

    def path(self, name):
        validate_name(name)
        return '%s/%s' % (self.path_prefix, name) if self.path_prefix else name

    def describe(self, name):
        return 'secret %r at %s/%s on %s' % (name, self.mount_point, self.path(name), self.connection.url)

    def _read(self, name):
        data, version, deleted = self.connection.kv2_read(self.path(name), self.mount_point)
        if deleted:
            raise SecretBackendError(
                'the latest version (%d) of %s is deleted; undelete it, or destroy its metadata '
                '(bao kv metadata delete) if a new value is really wanted' % (version, self.describe(name))
            )
        return (_check_fields(name, data) if data is not None else None), version

    def read(self, name):
        try:
            return self._read(name)[0]
        except VaultError as e:
            raise SecretBackendError(str(e)) from e

    def _check_mount(self):
        version = self.connection.kv2_mount_version(self.mount_point)
        if version is not None and version != '2':
            raise SecretBackendError(
                'the secrets engine at %r on %s is not KV version 2 (%s); the secret lookup '
                'needs KV version 2 for check-and-set' % (self.mount_point, self.connection.url, version)
            )

    def get_or_create(self, name, generators, dry_run=False):
        try:
            checked = False
            for dummy in range(_CAS_ATTEMPTS):
                existing, version = self._read(name)
                current = existing or {}
                missing = _missing(current, generators)
                if not missing:
                    return current, False
                data = dict(current)
                data.update(dict((f, generators[f]()) for f in missing))
                if dry_run:
                    return data, True
                if not checked:
                    self._check_mount()
                    checked = True
                # cas=0: only if the path has no version yet; cas=N: only if nobody wrote since we read.
                if self.connection.kv2_write(self.path(name), data, self.mount_point, cas=version):
                    return data, True
                # Another writer won the race: loop, read its value and use that.
        except VaultError as e:
            raise SecretBackendError(str(e)) from e
        raise SecretBackendError(
            'could not store %s: %d check-and-set attempts lost against other writers'
            % (self.describe(name), _CAS_ATTEMPTS)
        )
