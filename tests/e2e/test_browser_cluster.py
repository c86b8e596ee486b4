"""A browser call whose two peers sit on different instances: two real
``python -m rtcsignal serve --redis-url`` instances on one real ``redis-server``, and a
Chromium tab on each."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext
from test_browser import DemoServer, Visitor, browser, context, room, wait_media

from harness_cluster import SECRET, RedisServer

__all__ = ["browser", "context", "room"]  # the fixtures, shared with test_browser


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoServer, DemoServer]]:
    tmp = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(tmp)
    started: list[DemoServer] = []
    try:
        for name in ("a", "b"):
            env = {
                "RTCSIGNAL_REDIS_URL": redis.url,
                "RTCSIGNAL_BACKPLANE__INSTANCE_ID": name,
                "RTCSIGNAL_AUTH_SECRET": SECRET,  # each accepts the other's demo tokens
            }
            started.append(DemoServer(tmp / f"{name}.log", env=env))
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()
        redis.stop()


def test_a_room_call_across_two_instances(
    context: BrowserContext, instances: tuple[DemoServer, DemoServer], room: str
) -> None:
    a_server, b_server = instances
    alice = Visitor(context, a_server, room, "Alice")
    a = alice.join()
    bob = Visitor(context, b_server, room, "Bob")
    b = bob.join()
    wait_media(alice, {b})
    wait_media(bob, {a})


def test_a_one_to_one_call_rings_across_instances(
    context: BrowserContext, instances: tuple[DemoServer, DemoServer], room: str
) -> None:
    a_server, b_server = instances
    alice = Visitor(context, a_server, room, "Alice")
    alice.join()
    bob = Visitor(context, b_server, room, "Bob")
    b = bob.join()
    alice.page.click(f"#tiles .tile[data-participant='{b}'] button[data-action='call']")
    bob.page.wait_for_selector("#call-incoming", state="visible")
    bob.page.click("#call-accept")
    for visitor in (alice, bob):  # each page sees it active in its own time
        visitor.page.wait_for_function(
            "() => window.rtcsignalDemo.call()?.state === 'active'", polling=100
        )
    call_room = alice.js("window.rtcsignalDemo.call().room")
    a_in_call = alice.js(f"window.rtcsignalDemo.client.room('{call_room}').you")
    b_in_call = bob.js(f"window.rtcsignalDemo.client.room('{call_room}').you")
    wait_media(alice, {b_in_call}, mesh="callPeerStats")
    wait_media(bob, {a_in_call}, mesh="callPeerStats")
