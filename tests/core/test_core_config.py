"""ServerConfig: defaults, loading from plain data, and errors that name the key."""

from __future__ import annotations

import pytest

from rtcsignal.core import JoinPolicy, ServerConfig, ServerConfigError


def test_from_dict_structures_nested_room_policy() -> None:
    config = ServerConfig.from_dict(
        {"ping_timeout": 5, "default_room": {"capacity": 3, "join": "lobby"}}
    )
    assert config.ping_timeout == 5.0
    assert config.default_room.capacity == 3
    assert config.default_room.join is JoinPolicy.LOBBY


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"ping_timeot": 1}, "ping_timeot"),
        ({"ping_timeout": -1}, "ping_timeout"),
        ({"default_room": {"capacity": "x"}}, "default_room.capacity"),
        ({"default_room": {"join": "nope"}}, "default_room.join"),
        ({"default_room": {"capacity": 0}}, "default_room.capacity"),
    ],
)
def test_errors_name_the_key_and_value(data: dict[str, object], key: str) -> None:
    with pytest.raises(ServerConfigError) as info:
        ServerConfig.from_dict(data)
    assert info.value.key == key
    assert key in str(info.value)


def test_warning_must_precede_the_limit() -> None:
    with pytest.raises(ValueError, match="call_warning_before"):
        ServerConfig(max_call_duration=1800)
    assert ServerConfig(max_call_duration=1800, call_warning_before=60).max_call_duration == 1800
