"""Write the seed inputs of ``fuzz/corpus/<target>/`` (``python fuzz/seed_corpus.py``).

Seeds come from the real browser material already in the tests: every description in
``tests/sdp/samples`` and ``tests/sdp/corpus`` (Chromium, Firefox, aiortc), every
distinct ``a=candidate`` line in them (as the ``candidate:...`` string a browser hands
to JavaScript), the settings TOML of the runtime tests, every client message template
(JSON and MessagePack), and a few server programs that say hello, join, negotiate, call,
drop and resume. Seed files are named ``seed-*``; inputs kept from fuzzing runs for
their coverage are ``cov-*`` and crashers found are ``regression-*`` (neither is
rewritten here).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402

TESTS = targets.ROOT / "tests"
TOML_SEEDS = [
    'host = "0.0.0.0"\nport = 9000\norigins = ["https://app.example"]\n'
    'auth_secret = "0123456789abcdef0123456789abcdef"\ncompression = false\n\n'
    "[server]\nping_timeout = 30.0\n",
    '[ice]\nturn_secret = "s3cret"\nturn_ttl = 3600\n\n[[ice.servers]]\n'
    'urls = ["stun:stun.example.com:3478"]\n\n[[ice.servers]]\nurls = "turn:backup.example.com"\n'
    'username = "static-user"\ncredential = "static-pass"\n',
    "[rate.connection]\nrate = 20.0\nburst = 40.0\n\n[server]\nmax_rooms_per_session = 4\n",
]


def _write(target: str, data: bytes) -> None:
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)


def _descriptions() -> list[bytes]:
    paths = sorted((TESTS / "sdp" / "samples").glob("*.sdp"))
    paths += sorted((TESTS / "sdp" / "corpus").glob("*.sdp"))
    return [path.read_bytes() for path in paths]


def _candidates(descriptions: list[bytes]) -> list[str]:
    seen: dict[str, str] = {}
    for text in descriptions:
        for line in text.decode().splitlines():
            if line.startswith("a=candidate:"):
                fields = line.split()
                shape = " ".join(fields[2:3] + fields[6:8] + fields[8::2])  # transport, type, keys
                seen.setdefault(shape, line[2:])
    return sorted(seen.values())


def _frame(conn: int, template: str, *choices: int, binary: int = 0) -> bytes:
    names = [str(t["type"]) + ("_resume" if "resume" in t else "") for t in targets.TEMPLATES]
    return bytes([3, conn, binary, names.index(template), *choices, 1, 1])


def _programs() -> list[bytes]:
    hello = _frame(0, "hello") + _frame(1, "hello")
    both = bytes([1, 0, 0, 0, 1]) + hello
    join = _frame(0, "join", 0) + _frame(1, "join", 0)
    room = both + join
    programs = [
        both,
        room,
        room + _frame(0, "chat", 0) + _frame(1, "app", 0) + _frame(1, "stats", 0, binary=1),
        room + _frame(0, "media_state", 0) + _frame(0, "lock", 0) + _frame(1, "leave", 0),
        room + bytes([2, 200, 2, 200]) + _frame(0, "recording", 0) + _frame(0, "set_layout", 0),
        room + bytes([1, 1, 2, 10]) + _frame(0, "ping"),
        both + _frame(0, "join", 2) + _frame(1, "join", 2) + _frame(0, "admit", 2, 3),
        both + _frame(0, "call_invite", 1) + _frame(1, "call_accept", 4) + bytes([2, 255]),
        both + _frame(0, "call_invite", 1) + _frame(0, "call_cancel", 4),
        both + _frame(0, "call_invite", 1) + _frame(1, "call_decline", 4, binary=1),
        bytes([1, 0, 0]) + _frame(0, "ping") + _frame(0, "hello") + bytes([2, 255, 2, 255]),
        bytes([1, 0, 0]) + _frame(0, "hello") + bytes([1, 0, 0, 0]) + _frame(0, "hello_resume", 1),
    ]
    for who in range(1, 8):  # the known ids' order depends on the run: try a few
        programs.append(
            room
            + _frame(0, "offer", 0, who)
            + _frame(1, "answer", 0, who)
            + _frame(0, "candidate", 0, who)
            + _frame(0, "end_of_candidates", 0, who)
        )
        programs.append(
            room + _frame(0, "mute", 0, who) + _frame(0, "kick", 0, who)
            + _frame(0, "transfer_host", 0, who) + _frame(0, "set_role", 0, who)
        )  # fmt: skip
    return programs


def main() -> None:
    descriptions = _descriptions()
    for description in descriptions:
        _write("sdp", description)
    for line in _candidates(descriptions):
        for head in (b"\x00\x00", b"\x01\x00", b"\x14\x01"):
            _write("candidate", head + line.encode())
    _write("candidate", b"\x00\x00")  # end-of-candidates
    for text in TOML_SEEDS:
        _write("settings", text.encode())
    for template in targets.TEMPLATES:
        message = dict(template, id=7)
        for key, value in list(message.items()):
            if value in ("$p", "$r", "$u", "$t"):
                message[key] = {"$p": "i3", "$r": "room1", "$u": "ben", "$t": "tok"}[value]
            elif value == ["$u"]:
                message[key] = ["ben"]
        _write("protocol_json", json.dumps(message).encode())
        _write("protocol_msgpack", msgspec.msgpack.encode(message))
    for program in _programs():
        _write("server", program)


if __name__ == "__main__":
    main()
