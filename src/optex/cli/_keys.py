"""``optex keys``: create and manage encrypted key files.

Keys live only in encrypted keystore files (docs/security.md), one per label, in a directory
readable by the owner only. Passwords are read without echo; ``--password-file`` or the
``OPTEX_KEY_PASSWORD`` / ``OPTEX_NEW_KEY_PASSWORD`` environment variables serve scripts and
tests.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from optex.core import Conflict, InvalidInput, NotFound
from optex.crypto import (
    KeyRole,
    Keystore,
    PrivateKey,
    SecurityReason,
    change_password,
    decode_keystore,
    decrypt_key,
    encode_keystore,
    encrypt_key,
    key_name,
)

PASSWORD_ENV = "OPTEX_KEY_PASSWORD"  # noqa: S105 - a variable name
NEW_PASSWORD_ENV = "OPTEX_NEW_KEY_PASSWORD"  # noqa: S105 - a variable name
DIR_ENV = "OPTEX_KEYS_DIR"
MIN_LOG_N = 10
MAX_LOG_N = 20


def register(subparsers: Any) -> None:
    """Add ``keys`` to the ``optex`` command."""
    parser = subparsers.add_parser(
        "keys",
        help="create and manage encrypted key files",
        description="Ed25519 keys for accounts, trading, validators and nodes, kept in "
        "encrypted keystore files.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"key directory (default: ${DIR_ENV} or ~/.optex/keys)",
    )
    commands = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    new = commands.add_parser("new", help="create a key pair and save it encrypted")
    new.add_argument("label", help="a name for the key, e.g. 'main owner'")
    new.add_argument("--role", choices=[r.value for r in KeyRole], default=KeyRole.OWNER.value)
    new.add_argument(
        "--format",
        choices=["optex", "v3"],
        default="optex",
        help="optex: scrypt + AES-256-GCM (default); v3: Web3 Secret Storage",
    )
    new.add_argument(
        "--kdf",
        choices=["scrypt", "pbkdf2"],
        default="scrypt",
        help="key derivation for --format v3 (optex always uses scrypt)",
    )
    new.add_argument(
        "--scrypt-log-n",
        type=int,
        default=17,
        help=f"scrypt cost as log2(N), {MIN_LOG_N}-{MAX_LOG_N} (default 17)",
    )
    _password_args(new, new_password=False)
    new.set_defaults(handler=run_new)

    listing = commands.add_parser("list", help="list the keys in the directory")
    listing.set_defaults(handler=run_list)

    show = commands.add_parser("show", help="show a key's label, role, format and public key")
    show.add_argument("label")
    show.set_defaults(handler=run_show)

    export = commands.add_parser(
        "export-public",
        help="print the public key, checked by decrypting the file",
    )
    export.add_argument("label")
    export.add_argument("--pem", action="store_true", help="PEM instead of hex")
    _password_args(export, new_password=False)
    export.set_defaults(handler=run_export_public)

    change = commands.add_parser("change-password", help="re-encrypt a key under a new password")
    change.add_argument("label")
    change.add_argument("--scrypt-log-n", type=int, default=17, help="scrypt cost for the new file")
    _password_args(change, new_password=True)
    change.set_defaults(handler=run_change_password)


def _password_args(parser: argparse.ArgumentParser, *, new_password: bool) -> None:
    parser.add_argument(
        "--password-file",
        type=Path,
        default=None,
        help=f"read the password from this file (or set ${PASSWORD_ENV})",
    )
    if new_password:
        parser.add_argument(
            "--new-password-file",
            type=Path,
            default=None,
            help=f"read the new password from this file (or ${NEW_PASSWORD_ENV})",
        )


def _key_dir(args: argparse.Namespace) -> Path:
    if args.dir is not None:
        return Path(args.dir)
    return Path(os.environ.get(DIR_ENV) or Path.home() / ".optex" / "keys")


def _read_password(path: Path | None, env: str, prompt: str, *, confirm: bool) -> str:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(SecurityReason.WEAK_PASSWORD, f"cannot read {path}: {exc}") from None
        return text.rstrip("\r\n")
    if env in os.environ:
        return os.environ[env]
    password = getpass.getpass(prompt)
    if confirm and getpass.getpass("repeat: ") != password:
        raise InvalidInput(SecurityReason.WEAK_PASSWORD, "the passwords do not match")
    return password


def _path(directory: Path, label: str) -> Path:
    return directory / f"{key_name(label)}.json"


def _load(directory: Path, label: str) -> tuple[Path, Keystore]:
    path = _path(directory, label)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(SecurityReason.KEY_NOT_FOUND, f"no key {label!r} in {directory}") from None
    return path, decode_keystore(data)


def _save(path: Path, keystore: Keystore, *, replace: bool) -> None:
    """Write atomically with mode 0600: a crash leaves the old file or the new, never half."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not replace and path.exists():
        raise Conflict(SecurityReason.KEY_EXISTS, f"{path} already exists")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(encode_keystore(keystore))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the file appeared meanwhile, unlike a rename
            os.unlink(tmp)
    except FileExistsError:
        os.unlink(tmp)
        raise Conflict(SecurityReason.KEY_EXISTS, f"{path} already exists") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _log_n(value: int) -> int:
    if not MIN_LOG_N <= value <= MAX_LOG_N:
        raise InvalidInput(
            SecurityReason.KEYSTORE_UNSUPPORTED, f"--scrypt-log-n must be {MIN_LOG_N}-{MAX_LOG_N}"
        )
    return 1 << value


def run_new(args: argparse.Namespace) -> int:
    """Create a key and save it encrypted."""
    directory = _key_dir(args)
    path = _path(directory, args.label)
    if path.exists():
        raise Conflict(SecurityReason.KEY_EXISTS, f"{path} already exists")
    n = _log_n(args.scrypt_log_n)
    password = _read_password(
        args.password_file, PASSWORD_ENV, "password for the new key: ", confirm=True
    )
    key = PrivateKey.generate()
    keystore = encrypt_key(
        key,
        password,
        label=args.label,
        role=KeyRole(args.role),
        fmt=args.format,
        kdf=args.kdf,
        scrypt_n=n,
    )
    _save(path, keystore, replace=False)
    Console().print(f"created {args.role} key [bold]{key.public_key.hex()}[/bold] in {path}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    """List the key files, one a line: label, role, format and public key (not yet verified)."""
    directory = _key_dir(args)
    console = Console(soft_wrap=True)
    count = 0
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            keystore = decode_keystore(path.read_bytes())
        except InvalidInput as exc:
            console.print(f"{path.name}  unreadable: {exc.message}", markup=False)
            continue
        meta = keystore.optex
        label, role, public = (
            (meta.label, meta.role.value, meta.public_key) if meta else (path.stem, "-", "-")
        )
        console.print(f"{label}  {role}  {keystore.version}  {public}", markup=False)
        count += 1
    console.print(f"{count} keys in {directory}", markup=False)
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Show a key file's metadata (not decrypted, so not yet verified)."""
    path, keystore = _load(_key_dir(args), args.label)
    meta = keystore.optex
    console = Console()
    console.print(f"file:       {path}")
    console.print(
        f"format:     {keystore.version} ({keystore.crypto.cipher}, {keystore.crypto.kdf})"
    )
    if meta is not None:
        console.print(f"label:      {meta.label}")
        console.print(f"role:       {meta.role.value}")
        console.print(f"public key: {meta.public_key} (use export-public to verify)")
    return 0


def run_export_public(args: argparse.Namespace) -> int:
    """Print the public key derived from the decrypted private key."""
    _, keystore = _load(_key_dir(args), args.label)
    password = _read_password(args.password_file, PASSWORD_ENV, "password: ", confirm=False)
    public = decrypt_key(keystore, password).public_key
    print(public.pem().rstrip() if args.pem else public.hex())
    return 0


def run_change_password(args: argparse.Namespace) -> int:
    """Re-encrypt a key under a new password, replacing the file atomically."""
    path, keystore = _load(_key_dir(args), args.label)
    n = _log_n(args.scrypt_log_n)
    old = _read_password(args.password_file, PASSWORD_ENV, "current password: ", confirm=False)
    decrypt_key(keystore, old)
    new = _read_password(args.new_password_file, NEW_PASSWORD_ENV, "new password: ", confirm=True)
    _save(path, change_password(keystore, old, new, scrypt_n=n), replace=True)
    Console().print(f"password changed for {path}")
    return 0
