"""The secret connection: handshake, impostors and men in the middle, frames and nonces."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from optex.core import Unauthorized
from optex.node import (
    NodeReason,
    Opener,
    Sealer,
    SecretConnection,
    Session,
    auth_message,
    check_auth,
    handshake,
    node_id,
)
from optex.node._secret import MAX_FRAME_BYTES, MAX_NONCE

KEY = bytes(range(32))


def _key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _pair(
    server_key: Ed25519PrivateKey, client_key: Ed25519PrivateKey, expected: bytes | None
) -> tuple[SecretConnection, SecretConnection]:
    accepted: asyncio.Future[SecretConnection] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            accepted.set_result(await handshake(reader, writer, server_key))
        except Unauthorized as exc:
            accepted.set_exception(exc)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        client = await handshake(reader, writer, client_key, expected)
    finally:
        server.close()
    return client, await accepted


def test_handshake_authenticates_both_node_keys_and_carries_messages_both_ways() -> None:
    async def scenario() -> None:
        server_key, client_key = _key(1), _key(2)
        client, server = await _pair(server_key, client_key, node_id(server_key))
        assert client.remote_key == node_id(server_key)
        assert server.remote_key == node_id(client_key)
        assert client.session_id == server.session_id
        await client.send(b"hello")
        await server.send(b"world" * 1000)
        assert await server.recv() == b"hello"
        assert await client.recv() == b"world" * 1000
        client.close()
        server.close()

    asyncio.run(scenario())


def test_a_peer_that_proves_another_node_key_than_expected_is_dropped() -> None:
    async def scenario() -> None:
        with pytest.raises(Unauthorized) as info:
            await _pair(_key(1), _key(2), expected=node_id(_key(3)))
        assert info.value.code is NodeReason.WRONG_PEER

    asyncio.run(scenario())


def test_a_relaying_man_in_the_middle_cannot_pass_on_the_real_nodes_proof() -> None:
    # The attacker swaps in its own ephemeral keys, so it can read both sides' frames, and
    # forwards the server's authentication message to the client re-encrypted.
    client_eph, server_eph = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    attacker_to_client, attacker_to_server = (
        X25519PrivateKey.generate(),
        X25519PrivateKey.generate(),
    )

    def raw(k: X25519PrivateKey) -> bytes:
        return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    client_side = Session(client_eph, raw(attacker_to_client))
    attacker_client_side = Session(attacker_to_client, raw(client_eph))
    server_side = Session(server_eph, raw(attacker_to_server))
    attacker_server_side = Session(attacker_to_server, raw(server_eph))
    assert client_side.challenge != server_side.challenge
    server_proof = auth_message(_key(1), server_side.challenge)
    frame = Sealer(server_side.send_key).seal(server_proof)
    stolen = Opener(attacker_server_side.recv_key).open(frame[:4], frame[4:])
    forwarded = Sealer(attacker_client_side.send_key).seal(stolen)
    received = Opener(client_side.recv_key).open(forwarded[:4], forwarded[4:])
    with pytest.raises(Unauthorized) as info:
        check_auth(received, client_side.challenge, node_id(_key(1)))
    assert info.value.code is NodeReason.HANDSHAKE_FAILED


def test_a_peer_that_reflects_our_ephemeral_key_is_refused() -> None:
    eph = X25519PrivateKey.generate()
    with pytest.raises(Unauthorized):
        Session(eph, eph.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def test_a_low_order_ephemeral_key_is_refused() -> None:
    with pytest.raises(Unauthorized):
        Session(X25519PrivateKey.generate(), bytes(32))


def test_an_altered_frame_is_rejected() -> None:
    frame = bytearray(Sealer(KEY).seal(b"vote"))
    frame[-1] ^= 1
    with pytest.raises(Unauthorized) as info:
        Opener(KEY).open(bytes(frame[:4]), bytes(frame[4:]))
    assert info.value.code is NodeReason.BAD_FRAME


def test_an_altered_length_is_rejected_because_it_is_authenticated() -> None:
    frame = Sealer(KEY).seal(b"vote")
    with pytest.raises(Unauthorized):
        Opener(KEY).open(b"\x00\x00\x00\x15", frame[4:])


def test_a_replayed_or_reordered_frame_fails_because_the_nonce_is_a_counter() -> None:
    sealer, opener = Sealer(KEY), Opener(KEY)
    first, second = sealer.seal(b"one"), sealer.seal(b"two")
    assert opener.open(first[:4], first[4:]) == b"one"
    with pytest.raises(Unauthorized):
        opener.open(first[:4], first[4:])  # replay
    other = Opener(KEY)
    with pytest.raises(Unauthorized):
        other.open(second[:4], second[4:])  # second frame first
    assert opener.open(second[:4], second[4:]) == b"two"


def test_each_direction_has_its_own_key_so_a_frame_cannot_be_reflected() -> None:
    a, b = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    pub = lambda k: k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)  # noqa: E731
    side_a, side_b = Session(a, pub(b)), Session(b, pub(a))
    assert side_a.send_key == side_b.recv_key and side_a.recv_key == side_b.send_key
    assert side_a.send_key != side_a.recv_key
    frame = Sealer(side_a.send_key).seal(b"x")
    with pytest.raises(Unauthorized):
        Opener(side_a.recv_key).open(frame[:4], frame[4:])


def test_a_direction_stops_before_its_nonce_would_repeat() -> None:
    with pytest.raises(Unauthorized) as info:
        Sealer(KEY, counter=MAX_NONCE).seal(b"x")
    assert info.value.code is NodeReason.NONCE_EXHAUSTED
    with pytest.raises(Unauthorized):
        Opener(KEY, counter=MAX_NONCE).open(bytes(4), bytes(16))


def test_oversized_frames_are_refused_on_both_ends() -> None:
    with pytest.raises(Unauthorized) as info:
        Sealer(KEY).seal(bytes(MAX_FRAME_BYTES + 1))
    assert info.value.code is NodeReason.FRAME_TOO_LARGE
    with pytest.raises(Unauthorized):
        Opener.frame_length((MAX_FRAME_BYTES + 17).to_bytes(4, "big"))


def test_a_tampered_stream_closes_the_connection_with_an_error() -> None:
    async def scenario() -> None:
        client, server = await _pair(_key(1), _key(2), node_id(_key(1)))
        frame = bytearray(client._sealer.seal(b"precommit"))
        frame[10] ^= 0x80
        client._writer.write(bytes(frame))
        with pytest.raises(Unauthorized):
            await server.recv()
        client.close()
        server.close()

    asyncio.run(scenario())
