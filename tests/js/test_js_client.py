"""The JavaScript client as front-end code gets it: typed and tested on its own.

* ``tsc --strict`` type-checks ``tests/js/typecheck.ts`` (every API used right, and
  ``@ts-expect-error`` lines that must be refused) and the TypeScript example of
  ``docs/js-client.md``, next to copies of ``rtcsignal.js`` and ``rtcsignal.d.ts``, as a
  user's project would hold them.
* ``node --test tests/js/client.test.js`` runs the client's own tests against a real
  ``python -m rtcsignal serve`` (started by the Node tests, with this interpreter).
* ``node --test tests/js/cluster.test.js`` runs its retries after
  ``backplane_unavailable`` against a real cluster started here: a ``redis-server`` and
  two ``serve`` instances (``tests/harness_cluster.py``), the owner paused with SIGSTOP.
* The declarations cover every message of the protocol, field by field, and every
  error code (checked against ``rtcsignal.protocol``).

TypeScript and ``ws`` come from ``tests/js/package-lock.json`` (``npm ci``, run here when
``node_modules`` is missing or older than the lock file). Node and npm are Debian's
(``scripts/install-system-deps.sh``); without them these tests fail, never skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from harness_cluster import SECRET, Instance, RedisServer
from rtcsignal import protocol as p
from rtcsignal.auth import mint_token

ROOT = Path(__file__).resolve().parent.parent.parent
JS = ROOT / "tests" / "js"
STATIC = ROOT / "src" / "rtcsignal" / "static"
DTS = STATIC / "rtcsignal.d.ts"
NPM_TIMEOUT = 300.0
RUN_TIMEOUT = 300.0


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: the JavaScript client's tests need Node.js and npm "
            "(run `sudo bash scripts/install-system-deps.sh`, or `apt-get install nodejs npm`)"
        )
    return path


def _run(args: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``tests/js/node_modules`` as the committed lock file pins it."""
    _tool("node")
    npm = _tool("npm")
    installed = JS / "node_modules" / ".package-lock.json"
    lock = JS / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        _run([npm, "ci", "--no-audit", "--no-fund"], JS, NPM_TIMEOUT)
    return JS / "node_modules"


def _tsc(node_modules: Path, project: Path) -> None:
    tsc = node_modules / "typescript" / "bin" / "tsc"
    _run([_tool("node"), str(tsc), "--strict", "-p", str(project)], project.parent, RUN_TIMEOUT)


def test_the_declarations_type_check_strict(node_modules: Path) -> None:
    _tsc(node_modules, JS / "tsconfig.json")


def test_the_docs_typescript_example_type_checks(node_modules: Path, tmp_path: Path) -> None:
    page = (ROOT / "docs" / "js-client.md").read_text()
    blocks = re.findall(r"```ts\n(.*?)```", page, re.S)
    assert blocks, "docs/js-client.md has no TypeScript example"
    shutil.copy(STATIC / "rtcsignal.js", tmp_path / "rtcsignal.js")
    shutil.copy(DTS, tmp_path / "rtcsignal.d.ts")
    names = []
    for index, block in enumerate(blocks):
        assert 'from "./rtcsignal.js"' in block, "the example imports ./rtcsignal.js"
        name = f"example{index}.ts"
        (tmp_path / name).write_text(block)
        names.append(name)
    config = (JS / "tsconfig.json").read_text().replace('["typecheck.ts"]', repr(names))
    (tmp_path / "tsconfig.json").write_text(config.replace("'", '"'))
    _tsc(node_modules, tmp_path / "tsconfig.json")


def test_the_client_passes_its_node_tests_against_a_real_server(node_modules: Path) -> None:
    output = _run(
        [_tool("node"), "--test", "client.test.js"],
        JS,
        RUN_TIMEOUT,
        env={"PYTHON": sys.executable},
    )
    passed = re.search(r"^# pass (\d+)$", output, re.M)
    failed = re.search(r"^# fail (\d+)$", output, re.M)
    assert passed and failed, output[-3000:]
    assert int(failed.group(1)) == 0 and int(passed.group(1)) >= 7, output[-3000:]


@pytest.fixture(params=["", "reconnect_grace = 0.1\n"], ids=["grace", "short_grace"])
def cluster(request: Any, tmp_path: Path) -> Iterator[tuple[Instance, Instance, bool]]:
    """Two instances on one ``redis-server``; the edge waits 0.5 s for an owner (with a
    short reconnect grace for the lost-session test)."""
    config = tmp_path / "cluster.toml"
    config.write_text(
        f'auth_secret = "{SECRET}"\n[server]\nrequest_timeout = 0.5\n{request.param}'
        "[backplane]\nlease_ttl = 30.0\n"  # a paused owner keeps its rooms
    )
    redis = RedisServer(tmp_path)
    instances: list[Instance] = []
    try:
        for name in ("a", "b"):
            instances.append(Instance(redis.url, name, "--config", str(config)))
        deadline = time.monotonic() + 10.0
        for instance, peer in zip(instances, ("b", "a"), strict=True):
            url = f"http://127.0.0.1:{instance.port}/healthz"
            while peer not in json.loads(_http(url))["backplane"]["peers"]:
                assert time.monotonic() < deadline, f"{instance.id} does not see {peer}"
                time.sleep(0.05)
        yield instances[0], instances[1], bool(request.param)
    finally:
        for instance in instances:
            os.kill(instance.proc.pid, signal.SIGCONT)  # never leave one stopped
            instance.stop()
        redis.stop()


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10.0) as reply:
        return str(reply.read().decode())


def test_the_client_retries_backplane_unavailable_against_a_real_cluster(
    node_modules: Path, cluster: tuple[Instance, Instance, bool]
) -> None:
    a, b, short_grace = cluster
    now = time.time()
    tokens = {user: mint_token(SECRET, user=user, ttl=600, now=now) for user in ("alice", "bob")}
    output = _run(
        [_tool("node"), "--test", "cluster.test.js"],
        JS,
        RUN_TIMEOUT,
        env={
            "RTCSIGNAL_A_URL": a.url,
            "RTCSIGNAL_A_PID": str(a.proc.pid),
            "RTCSIGNAL_B_URL": b.url,
            "RTCSIGNAL_B_HTTP": f"http://127.0.0.1:{b.port}",
            "RTCSIGNAL_TOKENS": json.dumps(tokens),
            **({"RTCSIGNAL_SHORT_GRACE": "1"} if short_grace else {}),
        },
    )
    passed = re.search(r"^# pass (\d+)$", output, re.M)
    failed = re.search(r"^# fail (\d+)$", output, re.M)
    assert passed and failed, output[-3000:]
    assert int(failed.group(1)) == 0, output[-3000:]
    assert int(passed.group(1)) == (1 if short_grace else 4), output[-3000:]


# ---------------------------------------------------------------------- coverage


def _interfaces(text: str) -> dict[str, tuple[list[str], set[str]]]:
    """Interface name -> (the interfaces it extends, its own field names)."""
    found: dict[str, tuple[list[str], set[str]]] = {}
    pattern = r"^(?:export )?interface (\w+)(?: extends ([\w, ]+))? \{\n(.*?)^\}"
    for name, bases, body in re.findall(pattern, text, re.S | re.M):
        fields = set(re.findall(r"^  (?:readonly )?(\w+)\??:", body, re.M))
        found[name] = ([b.strip() for b in bases.split(",") if b.strip()], fields)
    return found


def _fields(interfaces: dict[str, tuple[list[str], set[str]]], name: str) -> set[str]:
    bases, own = interfaces[name]
    return own.union(*(_fields(interfaces, base) for base in bases))


def _wire_fields(struct: Any) -> set[str]:
    return {f.encode_name for f in msgspec.structs.fields(struct)}


def _messages() -> list[Any]:
    return [*p.ClientMessage.__args__, *p.ServerMessage.__args__]  # type: ignore[attr-defined]


def test_the_declarations_cover_every_message_field_by_field() -> None:
    text = DTS.read_text()
    interfaces = _interfaces(text)
    by_tag: dict[str, str] = {}
    for name in interfaces:
        tag = re.search(r'^  type: "(\w+)";', text.split(f"interface {name} ", 1)[1], re.M)
        own = interfaces[name][1]
        if tag and "type" in own:
            by_tag.setdefault(tag.group(1), name)  # the message, not ChatEntry
    for struct in _messages():
        tag = struct.__struct_config__.tag
        assert tag in by_tag, f"rtcsignal.d.ts declares no message of type {tag!r}"
        declared = _fields(interfaces, by_tag[tag]) - {"type"}
        wire = _wire_fields(struct)
        if issubclass(struct, p.Relayed):
            declared |= {"from", "seq"}  # Relayed<M> adds them to what arrives
        assert declared == wire, (tag, sorted(declared ^ wire))
    for struct, name in (
        (p.ParticipantInfo, "ParticipantInfo"),
        (p.LobbyEntry, "LobbyEntry"),
        (p.CallInfo, "CallInfo"),
        (p.ServerLimits, "ServerLimits"),
        (p.IceServer, "IceServer"),
    ):
        assert _fields(interfaces, name) - {"type"} == _wire_fields(struct), name
    # Besides the messages, two tagged results of ok: a call and a lobby wait.
    assert _fields(interfaces, "LobbyWait") - {"type"} == _wire_fields(p.LobbyWait)
    every = {s.__struct_config__.tag for s in _messages()} | {"call", "lobby_wait"}
    assert set(by_tag) == every, set(by_tag) ^ every
    # Every stable error code.
    union = re.search(r"export type ErrorCode =(.*?);", text, re.S)
    assert union is not None
    assert set(re.findall(r'"(\w+)"', union.group(1))) == {c.value for c in p.ErrorCode}


def test_the_declarations_ship_next_to_the_module() -> None:
    # TypeScript finds rtcsignal.d.ts for `import ... from "./rtcsignal.js"`; the JS
    # module is a plain ES module (exports, no globals, no build step).
    source = (STATIC / "rtcsignal.js").read_text()
    exported = set(re.findall(r"^export (?:class|const|function) (\w+)", source, re.M))
    declared = set(re.findall(r"^export (?:class|const|function) (\w+)", DTS.read_text(), re.M))
    expected = {
        "MAX_EARLY_CANDIDATES",
        "PROTOCOL_VERSION",
        "PeerMesh",
        "SignalingClient",
        "SignalingError",
        "bufferCandidate",
    }
    assert exported == declared == expected


def _optional(text: str, name: str) -> set[str]:
    body = re.search(
        rf"^export interface {name}(?: extends [\w, ]+)? \{{\n(.*?)^\}}", text, re.S | re.M
    )
    assert body is not None, name
    return set(re.findall(r"^  (?:readonly )?(\w+)\?:", body.group(1), re.M))


def test_the_declarations_mark_optional_exactly_what_the_server_leaves_out() -> None:
    """Issue 17: a field the server always writes is not optional in the declarations
    (``welcome.seq``, a snapshot's ``locked``, a participant's ``state`` ...), and a field
    it leaves out when it has no value is."""
    text = DTS.read_text()
    structs = {
        "Welcome": p.Welcome,
        "RoomSnapshot": p.RoomSnapshot,
        "RoomUpdated": p.RoomUpdated,
        "GoingAway": p.GoingAway,
        "ParticipantInfo": p.ParticipantInfo,
        "CallInfo": p.CallInfo,
        "LobbyEntry": p.LobbyEntry,
    }
    for name, struct in structs.items():
        left_out = {f.encode_name for f in msgspec.structs.fields(struct) if not f.required}
        if issubclass(struct, p.Event):
            left_out.discard("seq")  # EventBase: every delivered event carries it
        assert _optional(text, name) == left_out, name
