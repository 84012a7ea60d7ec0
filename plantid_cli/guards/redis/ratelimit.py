"""The rate limit of a fleet: a sliding log in a Redis sorted set (``plantid:v1:rate:<bucket>``),
checked and recorded by one Lua script on the Redis clock, so no window ever holds more than ``n``
starts across the fleet whatever the machines' clocks say. Part of guards/redis/backend.py."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from plantid_cli.guards.disk.ratelimit import RATE_MARGIN, RateLimiter, usage_row

if TYPE_CHECKING:
    from plantid_cli.guards.disk.state import SharedState
    from plantid_cli.guards.redis.link import RedisLink

# KEYS[1] the sorted set; ARGV: horizon, margin, member, then count/window pairs.
# Returns {"ok", now} after recording a start, or {"wait", seconds}.
RATE_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local key = KEYS[1]
local horizon = tonumber(ARGV[1])
local margin = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.6f', now - horizon - margin))
local wait = 0
local i = 4
while i + 1 <= #ARGV do
  local count = tonumber(ARGV[i])
  local window = tonumber(ARGV[i + 1]) + margin
  local hit = redis.call('ZREVRANGEBYSCORE', key, '+inf',
    '(' .. string.format('%.6f', now - window), 'WITHSCORES', 'LIMIT', count - 1, 1)
  if #hit > 0 then
    local w = tonumber(hit[2]) + window - now
    if w > wait then wait = w end
  end
  i = i + 2
end
if wait > 0 then return {'wait', string.format('%.6f', wait)} end
redis.call('ZADD', key, string.format('%.6f', now), ARGV[3])
redis.call('PEXPIRE', key, math.ceil((horizon + margin) * 1000) + 1000)
return {'ok', string.format('%.6f', now)}
"""


class FleetRateLimiter(RateLimiter):
    """The sliding-log limiter with its log in Redis, for the whole fleet (see RATE_SCRIPT).

    Waiting (and ``on_wait``) is RateLimiter's loop; only the check-and-record step differs.
    Once Redis is lost this process limits itself with its disk log."""

    def __init__(
        self, link: RedisLink, state: SharedState, bucket: str, limits: list[tuple[int, float]]
    ) -> None:
        super().__init__(state, bucket, limits)
        self.link = link
        self.key = link.key("rate", bucket)
        self._script = link.client.register_script(RATE_SCRIPT)
        self._args: list[Any] = [self._horizon, RATE_MARGIN]
        for count, window in self.limits:
            self._args += [count, window]

    def _attempt(self) -> float:
        return self.link.run(self._fleet_attempt, super()._attempt)

    def _fleet_attempt(self) -> float:
        member = os.urandom(8).hex()
        args = [*self._args[:2], member, *self._args[2:]]
        kind, value = self._script(keys=[self.key], args=args)
        if kind == b"ok":
            self.last_start = float(value)
            return 0.0
        return float(value)

    def usage(self) -> list[dict[str, Any]]:
        if not self.limits:
            return []
        return self.link.run(self._fleet_usage, super().usage)

    def _fleet_usage(self) -> list[dict[str, Any]]:
        seconds, micros = self.link.client.time()
        now = seconds + micros / 1e6
        pipe = self.link.client.pipeline(transaction=False)
        for _, window in self.limits:
            pipe.zcount(self.key, f"({now - window:.6f}", "+inf")
        return [
            usage_row(count, window, used)
            for (count, window), used in zip(self.limits, pipe.execute(), strict=True)
        ]
