"""Turns shared by every worker through Redis, and within one process by a clock."""
import pytest
import redis

from publisher.rate_limit import KEY_PREFIX, LocalPacer, RedisPacer

URL = "redis://127.0.0.1:6379/13"


class _Refused(Exception):
    pass


def test_a_turn_taken_through_redis_holds_off_every_other_pacer():
    try:
        redis.Redis.from_url(URL).delete(KEY_PREFIX + "chat")
    except redis.RedisError:
        pytest.skip("Redis is not running")
    waits = []

    def record_and_stop(seconds):
        waits.append(seconds)
        raise _Refused

    first, second = RedisPacer(URL), RedisPacer(URL, sleep=record_and_stop)  # two connections, as two workers
    first("chat", 30.0)
    with pytest.raises(_Refused):
        second("chat", 30.0)
    assert 0 < waits[0] <= 30.0
    second("other-chat", 30.0)  # other keys are not held off
    redis.Redis.from_url(URL).delete(KEY_PREFIX + "chat", KEY_PREFIX + "other-chat")


def test_local_turns_wait_only_what_is_left():
    now = [100.0]
    slept = []

    def sleep(seconds):
        slept.append(round(seconds, 6))
        now[0] += seconds

    pace = LocalPacer(clock=lambda: now[0], sleep=sleep)
    pace("chat", 1.0)
    now[0] += 0.25
    pace("chat", 1.0)
    pace("other", 1.0)
    assert slept == [0.75]
