"""A Celery worker survives the broker going away while it holds an unacknowledged message
(hone/celery.py works around kombu's redis transport, which crashed the worker there)."""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

import hone.celery  # noqa: F401 (applies the workaround, as the worker's `-A hone` does)


class ReleasedChannel:
    """A channel whose connection was released after Redis went away: kombu then asks a connection
    that is None for its hostname."""

    def conn_or_acquire(self, client=None):
        raise AttributeError("'NoneType' object has no attribute 'hostname'")


def test_a_restore_that_cannot_reach_redis_is_logged_not_fatal(caplog):
    qos = kombu_redis.QoS.__new__(kombu_redis.QoS)
    qos.channel, qos._delivered = ReleasedChannel(), {}
    with caplog.at_level(logging.WARNING, logger="hone"):
        assert qos.restore_unacked() is None
    assert "unacknowledged messages left to Redis" in caplog.text


class ClosedChannel:
    """A channel from before a reconnect: its connection is gone (None), so kombu cannot build a client."""

    def conn_or_acquire(self, client=None):
        raise AttributeError("'NoneType' object has no attribute 'client'")


def test_a_task_acknowledged_through_a_channel_from_before_the_reconnect_is_logged_not_fatal(caplog):
    """Seen in CI: a task that finished after Redis came back acknowledged its message through the old
    channel, and the worker stopped ("Unrecoverable error"), leaving every later job queued."""
    qos = kombu_redis.QoS.__new__(kombu_redis.QoS)
    qos.channel, qos._delivered = ClosedChannel(), {"tag-1": object()}
    with caplog.at_level(logging.WARNING, logger="hone"):
        assert qos.ack("tag-1") is None
        assert qos.reject("tag-1") is None
    assert caplog.text.count("left to Redis's visibility timeout") == 2
