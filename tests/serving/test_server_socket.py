"""The listening socket mloop serve binds: accepted connections must not wait on Nagle.

Without TCP_NODELAY a response written as headers then body waits for the client's delayed ACK
(~40 ms on Linux): every one-row prediction took 60 ms where the model needs 10.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from mloop.errors import InvalidInput
from mloop.serving.server import bind


def test_connections_accepted_on_the_bound_socket_have_tcp_nodelay() -> None:
    listening = bind("127.0.0.1", 0)
    port = listening.getsockname()[1]
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_a_taken_port_and_a_bad_host_each_name_their_own_fix() -> None:
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(InvalidInput, match="pass --port with a free port"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    for host in ("256.1.1.1", "192.0.2.1"):  # not an address; an address of no interface here
        with pytest.raises(InvalidInput, match="pass --host with an address of this machine"):
            bind(host, 0)
