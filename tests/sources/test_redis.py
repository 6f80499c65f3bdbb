"""The Redis feature source's probe: PING a server that answers; one that does not is
unavailable now; a host that does not exist can never work (Redis on 127.0.0.1:6379)."""

from __future__ import annotations

import socket

import pytest
from tests.services.decide.test_features import redis_prefix  # noqa: F401

from doorstep.core.spec.sources import RedisSourceSpec
from doorstep.errors import ConnectorSpecError, FeatureSourceUnavailableError
from doorstep.sources.redis import RedisFeatureSource


def source_at(url: str) -> RedisFeatureSource:
    spec = RedisSourceSpec(type="redis", url=url, key="c:{id}", timeout=0.5)
    return RedisFeatureSource("cache", spec, fields=["plan"])


@pytest.mark.usefixtures("redis_prefix")
def test_a_redis_that_answers_passes_its_probe() -> None:
    source = source_at("redis://127.0.0.1:6379/0")
    source.probe()
    source.close()


def test_a_redis_that_does_not_answer_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = source_at(f"redis://:pw-7f3a@127.0.0.1:{port}/0")
    with pytest.raises(FeatureSourceUnavailableError, match="'cache' \\(redis\\) does not answer"):
        source.probe()
    source.close()


def test_a_redis_host_that_does_not_exist_can_never_work() -> None:
    source = source_at("redis://no-such-host.invalid:6379/0")
    with pytest.raises(ConnectorSpecError, match="'no-such-host.invalid' does not exist"):
        source.probe()
    source.close()
