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
