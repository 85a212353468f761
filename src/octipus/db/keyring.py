"""The keys that encrypt secrets stored in the database (Fernet), and where they come from.

Keys come from OCTIPUS_SECRET_KEY (comma-separated) or else the key file `<data dir>/secret-key`
(one key a line), never from the database. The first key encrypts; every key decrypts, so a
rotation puts the new key first and keeps the old ones until every stored secret is encrypted
again (db/reseal.py). Each encrypted value names its key by a short id (a hash of the key), so a
missing or wrong key is reported as such instead of decrypting to garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from octipus.config import Settings

SEALED = "encrypted"  # an encrypted value is stored as {"encrypted": <Fernet token>, "keyId": …}
KEY_ID = "keyId"
ENV_NAME = "OCTIPUS_SECRET_KEY"
HELP = "README, Secrets at rest"


class SecretKeyError(RuntimeError):
    """The configured keys cannot encrypt or decrypt what is stored; the message says what to do."""


def key_id(key: str) -> str:
    """A short public name for a key (a hash of it): which key encrypted a value."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(text: str, origin: str) -> list[str]:
    """The keys in `text` (one a line or comma-separated; `#` comments), each checked."""
    lines = (line.split("#", 1)[0] for line in text.replace(",", "\n").splitlines())
    keys = [line.strip() for line in lines if line.strip()]
    if not keys:
        raise SecretKeyError(f"{origin} holds no key; make one with `octipus secrets generate-key`")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except ValueError:
            raise SecretKeyError(
                f"{origin}: key {n} is not a Fernet key (44 characters of URL-safe base64);"
                " make one with `octipus secrets generate-key`"
            ) from None
    return keys


@lru_cache(maxsize=16)
def _fernet(key: str) -> Fernet:
    """The cipher of `key`, made once per key rather than at every use."""
    return Fernet(key.encode())


@dataclass(frozen=True)
class Keyring:
    """Configured keys by id, the first (primary) one encrypting; `origin` names their source."""

    keys: tuple[str, ...]
    origin: str

    @property
    def primary(self) -> str:
        return key_id(self.keys[0])

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id(k) for k in self.keys)

    def _fernet(self, kid: str) -> Fernet | None:
        return next((_fernet(k) for k in self.keys if key_id(k) == kid), None)

    def seal(self, plain: str) -> dict[str, str]:
        token = _fernet(self.keys[0]).encrypt(plain.encode()).decode()
        return {SEALED: token, KEY_ID: self.primary}

    def open(self, sealed: Mapping[str, Any]) -> str:
        kid = str(sealed.get(KEY_ID))
        fernet = self._fernet(kid)
        if fernet is None:
            raise SecretKeyError(
                f"a stored secret is encrypted with key {kid}, which {self.origin} does not hold:"
                f" add that key after the current one (keys after the first only decrypt) ({HELP})"
            )
        try:
            return fernet.decrypt(str(sealed.get(SEALED)).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored secret does not decrypt with key {kid} from {self.origin}:"
                f" the stored value or the key was altered ({HELP})"
            ) from None

    def reference(self, secret: str) -> str:
        """A stable opaque name for `secret` (keyed, so it is no offline guessing oracle)."""
        mask_key = hmac.new(self.keys[0].encode(), b"octipus secret reference", "sha256").digest()
        return hmac.new(mask_key, secret.encode(), "sha256").hexdigest()[:16]


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and SEALED in value


def load_keyring(settings: Settings) -> Keyring | None:
    """The keys of `settings` (OCTIPUS_SECRET_KEY, else the key file); None when neither exists."""
    if settings.secret_key is not None:
        return Keyring(
            tuple(parse_keys(settings.secret_key.get_secret_value(), ENV_NAME)), ENV_NAME
        )
    path = settings.secret_key_file
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return Keyring(tuple(parse_keys(text, str(path))), str(path))


def write_key_file(path: Path, keys: list[str], create: bool = False) -> None:
    """Write `keys` to `path` (mode 0600) in one step; `create`: only if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = "".join(f"{k}\n" for k in keys)
    target = path if create else path.with_name(f".{path.name}.new")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if create else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    if not create:
        os.replace(target, path)


class _Active:
    """This process's keys, loaded on first use from the settings `use_keys` was given, and
    again whenever the key file changes (a rotation by `octipus secrets`)."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.keyring: Keyring | None = None
        self.loaded_version: int | None = None
        self.lock = threading.Lock()

    def _version(self, settings: Settings) -> int | None:
        if settings.secret_key is not None:
            return None
        try:
            return settings.secret_key_file.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def get(self, reload: bool = False) -> Keyring:
        with self.lock:
            if self.settings is None:
                self.settings = Settings()
            settings = self.settings
            version = self._version(settings)
            if self.keyring is None or reload or version != self.loaded_version:
                self.keyring, self.loaded_version = load_keyring(settings), version
            if self.keyring is None:
                raise SecretKeyError(
                    f"no secret key: set {ENV_NAME} or start the server once to create"
                    f" the key file ({HELP})"
                )
            return self.keyring


_active = _Active()


def use_keys(settings: Settings) -> None:
    """Take this process's keys from `settings` (read again on next use)."""
    with _active.lock:
        _active.settings, _active.keyring = settings, None
        _active.loaded_version = None


def active_keyring(reload: bool = False) -> Keyring:
    """This process's keys; `reload` reads their source again (after a rotation)."""
    return _active.get(reload)


def open_sealed(sealed: Mapping[str, Any]) -> str:
    """Decrypt one stored value, reading the keys again once if its key is not loaded."""
    keyring = active_keyring()
    if str(sealed.get(KEY_ID)) not in keyring.ids:
        keyring = active_keyring(reload=True)
    return keyring.open(sealed)
