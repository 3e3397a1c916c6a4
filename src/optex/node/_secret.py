"""Encrypted, authenticated connections between peers, after CometBFT's secret connection.

The handshake, over any byte stream:

1. Each side sends a fresh X25519 public key (32 bytes) and reads the other's.
2. Both compute the Diffie-Hellman secret and derive, with HKDF-SHA256 over the secret and the
   two ephemeral keys in sorted order, one ChaCha20-Poly1305 key per direction and a 32-byte
   challenge. The challenge depends on both ephemeral keys, so a man in the middle, who must run
   a separate exchange with each side, leaves the two sides with different challenges.
3. Each side sends, in its first encrypted frame, its long-term Ed25519 node key and its
   signature of the challenge (under the domain ``optex/secret-connection/v1``), and checks the
   other's. A peer whose signature fails, or whose key is not the one the dialer expected, is
   dropped.

Frames are ``length (4 bytes, big-endian) | ciphertext``. The nonce is a per-direction frame
counter that is never sent: a replayed, dropped, reordered or altered frame fails authentication
and the connection is closed. The length is authenticated as associated data. A direction stops
before its counter would wrap, so no nonce is used twice under one key. All primitives come from
``cryptography``.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from typing import Final

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from optex.core import Unauthorized
from optex.node._errors import NodeReason

KEY_INFO: Final = b"optex/secret-connection/v1/keys"
AUTH_DOMAIN: Final = b"optex/secret-connection/v1/auth"
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
"""The largest plaintext a frame carries: a full block with room to spare."""
MAX_NONCE: Final = 2**64 - 1
HANDSHAKE_TIMEOUT_S: Final = 5.0
_LENGTH: Final = struct.Struct(">I")
_TAG_BYTES: Final = 16
_KEY_BYTES: Final = 32
_SIG_BYTES: Final = 64


def _raw(public: X25519PublicKey | Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def node_id(private: Ed25519PrivateKey) -> bytes:
    """The 32-byte public key that names a node."""
    return _raw(private.public_key())


def _nonce(counter: int) -> bytes:
    return bytes(4) + counter.to_bytes(8, "little")


class Sealer:
    """One direction's encryptor: a key and the counter of frames sent under it."""

    __slots__ = ("_aead", "counter")

    def __init__(self, key: bytes, counter: int = 0) -> None:
        self._aead = ChaCha20Poly1305(key)
        self.counter = counter

    def seal(self, plaintext: bytes) -> bytes:
        """The frame (length prefix and ciphertext) carrying ``plaintext``."""
        if len(plaintext) > MAX_FRAME_BYTES:
            raise Unauthorized(NodeReason.FRAME_TOO_LARGE, f"{len(plaintext)} bytes")
        if self.counter >= MAX_NONCE:
            raise Unauthorized(NodeReason.NONCE_EXHAUSTED)
        header = _LENGTH.pack(len(plaintext) + _TAG_BYTES)
        ciphertext = self._aead.encrypt(_nonce(self.counter), plaintext, header)
        self.counter += 1
        return header + ciphertext


class Opener:
    """One direction's decryptor: it expects frames in the order they were sealed."""

    __slots__ = ("_aead", "counter")

    def __init__(self, key: bytes, counter: int = 0) -> None:
        self._aead = ChaCha20Poly1305(key)
        self.counter = counter

    @staticmethod
    def frame_length(header: bytes) -> int:
        """The ciphertext length announced by a 4-byte header, checked against the limit."""
        (length,) = _LENGTH.unpack(header)
        if not _TAG_BYTES <= length <= MAX_FRAME_BYTES + _TAG_BYTES:
            raise Unauthorized(NodeReason.FRAME_TOO_LARGE, f"a frame of {length} bytes")
        return int(length)

    def open(self, header: bytes, ciphertext: bytes) -> bytes:
        """The plaintext of the next frame, or :class:`Unauthorized` if it was altered."""
        if self.counter >= MAX_NONCE:
            raise Unauthorized(NodeReason.NONCE_EXHAUSTED)
        try:
            plaintext = self._aead.decrypt(_nonce(self.counter), ciphertext, header)
        except InvalidTag:
            raise Unauthorized(NodeReason.BAD_FRAME, "the frame does not authenticate") from None
        self.counter += 1
        return plaintext


class Session:
    """The keys and challenge both sides derive from the ephemeral exchange."""

    __slots__ = ("challenge", "recv_key", "send_key")

    def __init__(self, local: X25519PrivateKey, remote_public: bytes) -> None:
        local_public = _raw(local.public_key())
        if remote_public == local_public:
            raise Unauthorized(NodeReason.HANDSHAKE_FAILED, "the peer reflected our key")
        try:
            shared = local.exchange(X25519PublicKey.from_public_bytes(remote_public))
        except ValueError:
            raise Unauthorized(NodeReason.HANDSHAKE_FAILED, "a low-order ephemeral key") from None
        low, high = sorted((local_public, remote_public))
        okm = HKDF(
            algorithm=hashes.SHA256(), length=3 * _KEY_BYTES, salt=None, info=KEY_INFO + low + high
        ).derive(shared)
        low_to_high, high_to_low = okm[:_KEY_BYTES], okm[_KEY_BYTES : 2 * _KEY_BYTES]
        self.challenge = okm[2 * _KEY_BYTES :]
        if local_public == low:
            self.send_key, self.recv_key = low_to_high, high_to_low
        else:
            self.send_key, self.recv_key = high_to_low, low_to_high


def auth_message(node_key: Ed25519PrivateKey, challenge: bytes) -> bytes:
    """What a side sends to prove its node key: the key and its signature of the challenge."""
    return node_id(node_key) + node_key.sign(AUTH_DOMAIN + challenge)


def check_auth(message: bytes, challenge: bytes, expected: bytes | None) -> bytes:
    """The remote node key proven by ``message``, or :class:`Unauthorized`."""
    if len(message) != _KEY_BYTES + _SIG_BYTES:
        raise Unauthorized(NodeReason.HANDSHAKE_FAILED, "a malformed authentication message")
    remote, signature = message[:_KEY_BYTES], message[_KEY_BYTES:]
    try:
        Ed25519PublicKey.from_public_bytes(remote).verify(signature, AUTH_DOMAIN + challenge)
    except (InvalidSignature, ValueError):
        raise Unauthorized(NodeReason.HANDSHAKE_FAILED, "the node key signature fails") from None
    if expected is not None and remote != expected:
        raise Unauthorized(
            NodeReason.WRONG_PEER, f"expected {expected.hex()[:16]}, got {remote.hex()[:16]}"
        )
    return remote


class SecretConnection:
    """An authenticated, encrypted message stream over an asyncio stream pair.

    Make one with :func:`handshake`. :meth:`send` seals and writes synchronously before it
    awaits, so concurrent senders never interleave frames or reuse a counter.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: Session,
        remote_key: bytes,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._sealer = Sealer(session.send_key)
        self._opener = Opener(session.recv_key)
        self.remote_key = remote_key
        self.session_id = hashlib.sha256(session.challenge).digest()[:8]

    def send_nowait(self, message: bytes) -> None:
        """Queue one frame on the transport."""
        self._writer.write(self._sealer.seal(message))

    async def send(self, message: bytes) -> None:
        """Send one message and wait until the transport has room again."""
        self.send_nowait(message)
        await self._writer.drain()

    async def recv(self) -> bytes:
        """The next message; raises on a closed stream or an altered frame."""
        header = await self._reader.readexactly(_LENGTH.size)
        ciphertext = await self._reader.readexactly(Opener.frame_length(header))
        return self._opener.open(header, ciphertext)

    def close(self) -> None:
        """Close the underlying transport."""
        self._writer.close()

    @property
    def buffered(self) -> int:
        """Bytes written but not yet sent."""
        return int(self._writer.transport.get_write_buffer_size())

    @property
    def closing(self) -> bool:
        """Whether the transport is closed or closing."""
        return self._writer.is_closing()


async def handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    node_key: Ed25519PrivateKey,
    expected: bytes | None = None,
    *,
    ephemeral: X25519PrivateKey | None = None,
    timeout_s: float = HANDSHAKE_TIMEOUT_S,
) -> SecretConnection:
    """Run the handshake on a fresh stream; ``expected`` is the node key the dialer wants.

    Raises :class:`Unauthorized` (and leaves closing the stream to the caller) if the peer
    cannot prove a node key, proves another one than ``expected``, or alters a frame.
    """

    async def run() -> SecretConnection:
        local = ephemeral if ephemeral is not None else X25519PrivateKey.generate()
        writer.write(_raw(local.public_key()))
        await writer.drain()
        remote_ephemeral = await reader.readexactly(_KEY_BYTES)
        session = Session(local, remote_ephemeral)
        sealer, opener = Sealer(session.send_key), Opener(session.recv_key)
        writer.write(sealer.seal(auth_message(node_key, session.challenge)))
        await writer.drain()
        header = await reader.readexactly(_LENGTH.size)
        body = await reader.readexactly(Opener.frame_length(header))
        remote = check_auth(opener.open(header, body), session.challenge, expected)
        if remote == node_id(node_key):
            raise Unauthorized(NodeReason.HANDSHAKE_FAILED, "connected to ourselves")
        connection = SecretConnection(reader, writer, session, remote)
        connection._sealer.counter = sealer.counter
        connection._opener.counter = opener.counter
        return connection

    try:
        return await asyncio.wait_for(run(), timeout_s)
    except (asyncio.IncompleteReadError, ConnectionError, TimeoutError) as exc:
        raise Unauthorized(NodeReason.HANDSHAKE_FAILED, f"{type(exc).__name__}") from None
