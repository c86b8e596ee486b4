"""The websockets adapter writes a batch of frames with one ``transport.write``."""

from __future__ import annotations

from typing import Any

from rtcsignal.adapters import websockets as adapter


class Transport:
    def __init__(self, *, eof: bool = True) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.eof = eof

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def can_write_eof(self) -> bool:
        return self.eof

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def close(self) -> None:
        self.calls.append(("close", None))


class Connection:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport


def test_frames_go_out_in_one_write() -> None:
    transport = Transport()
    adapter._write(Connection(transport), [b"a", b"bc", b"d"])  # type: ignore[arg-type]
    assert transport.calls == [("write", b"abcd")]


def test_an_end_of_stream_marker_is_honoured_as_websockets_does() -> None:
    transport = Transport()
    adapter._write(Connection(transport), [b"a", b"", b"b"])  # type: ignore[arg-type]
    assert transport.calls == [("write", b"a"), ("write_eof", None), ("write", b"b")]
    closing = Transport(eof=False)
    adapter._write(Connection(closing), [b"a", b""])  # type: ignore[arg-type]
    assert closing.calls == [("write", b"a"), ("close", None)]


def test_this_websockets_has_what_batching_needs() -> None:
    # if a websockets release drops them, the adapter falls back to send() per frame;
    # this test says so, so the fallback is a decision, not an accident
    assert adapter._BATCHES


def test_a_batch_on_a_real_connection_is_one_write_of_every_frame() -> None:
    # The guard on websockets' internals: on a real connection, the batch path must be the
    # one taken, write every frame in order and make one transport.write. A websockets
    # release that changes send_context(), protocol.send_text/send_binary/data_to_send
    # or the transport fails here, loudly, instead of quietly costing a syscall per frame.
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve

    writes: list[bytes] = []
    sent: asyncio.Future[None]

    async def handle(ws: Any) -> None:
        transport = ws.transport
        write = transport.write

        def counting(data: bytes) -> None:
            writes.append(bytes(data))
            write(data)

        transport.write = counting
        batch = adapter._BatchTransport(ws)
        await batch.send_many([(b'{"a":1}', True), (b"\x81\x01", False), (b'{"b":2}', True)])
        transport.write = write
        sent.set_result(None)
        await ws.wait_closed()

    async def main() -> list[str | bytes]:
        nonlocal sent
        sent = asyncio.get_running_loop().create_future()
        async with serve(handle, "127.0.0.1", 0, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}", compression=None) as client:
                got = [await asyncio.wait_for(client.recv(), 5) for _ in range(3)]
                await asyncio.wait_for(sent, 5)
                return got

    got = asyncio.run(main())
    assert got == ['{"a":1}', b"\x81\x01", '{"b":2}']
    assert len(writes) == 1, writes
    assert adapter.handler.__module__ == adapter.__name__
