"""What the picows adapter does on its own (the conformance suite covers the rest):
its RFC 6455 framing, reassembly of fragmented messages, invalid UTF-8, and its
refusal of compression."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from harness_adapters import settings, token
from rtcsignal.adapters import picows as adapter
from rtcsignal.runtime import Runtime


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_frames_follow_rfc_6455(size: int) -> None:
    from websockets.frames import Frame, Opcode
    from websockets.streams import StreamReader

    data = b"x" * size
    for text, opcode in ((True, Opcode.TEXT), (False, Opcode.BINARY)):
        reader = StreamReader()
        reader.feed_data(adapter.frame(data, text))
        parser = Frame.parse(reader.read_exact, mask=False)
        with pytest.raises(StopIteration) as done:
            next(parser)
        parsed = done.value.value
        assert (parsed.opcode, parsed.fin, parsed.data) == (opcode, True, data)
        assert reader.buffer == b""


def _run(body: object) -> None:
    async def main() -> None:
        runtime = Runtime(settings(origins=None))
        async with runtime, adapter.serve(runtime, host="127.0.0.1", port=0) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"ws://127.0.0.1:{port}/ws?token={token('alice')}"
            async with connect(url, compression=None, max_size=None) as ws:
                await body(ws)  # type: ignore[operator]

    asyncio.run(main())


def test_a_fragmented_message_is_reassembled() -> None:
    async def body(ws: object) -> None:
        hello = json.dumps({"type": "hello", "version": 1, "id": 3})
        await ws.send([hello[:5], hello[5:9], hello[9:]])  # type: ignore[attr-defined]
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[attr-defined]
        assert (reply["type"], reply["id"]) == ("welcome", 3)

    _run(body)


def test_a_fragmented_message_over_the_limit_closes_1009() -> None:
    async def body(ws: object) -> None:
        chunk = "x" * 60_000
        await ws.send([chunk, chunk, chunk])  # type: ignore[attr-defined]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)  # type: ignore[attr-defined]
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009

    _run(body)


def test_invalid_utf8_in_a_text_message_closes_1007() -> None:
    async def body(ws: object) -> None:
        from websockets.frames import Frame, Opcode

        protocol = ws.protocol  # type: ignore[attr-defined]
        protocol.send_frame(Frame(Opcode.TEXT, b"\xff\xfe"))
        ws.transport.write(b"".join(protocol.data_to_send()))  # type: ignore[attr-defined]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)  # type: ignore[attr-defined]
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1007

    _run(body)


def test_compression_is_refused() -> None:
    async def main() -> None:
        runtime = Runtime(settings())
        with pytest.raises(ValueError, match="permessage-deflate"):
            async with adapter.serve(runtime, host="127.0.0.1", port=0, compression=True):
                pass

    asyncio.run(main())
