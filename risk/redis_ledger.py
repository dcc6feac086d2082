"""RedisLedger: the same ledger for strategies spread over processes or hosts, one Lua script per step.

Each operation (check-and-reserve, release, fill, expire) is a single server-side script, so
the expire -> assemble -> check -> reserve step is atomic across every client of the same
Redis. Amounts are stored as integers: notional in micro-units of the quote currency
(10^-6) and quantities in 10^-8 units, because Lua numbers are doubles (exact to 2^53) and
Redis's cjson keeps 14 significant digits: amounts must stay below 10^8 quote units.
Reservations are rounded UP and caps DOWN, so rounding can only refuse, never admit, an
order at the edge of a limit.

Redis unreachable -> ``RiskRejected``: the gate fails closed.

Keys under ``<namespace>``: ``:res`` (hash: command -> JSON reservation), ``:exp`` (sorted
set: command by expiry), ``:done`` (hash: fills of released commands, for idempotent late
fills), ``:halt`` (the kill switch's reason, shared by every gate on the namespace),
``:pos`` (hash: "venue|instrument" -> signed cost basis, ``qty:``-prefixed signed quantity),
``:mark`` (hash: "venue|instrument" -> mark), ``:agg`` (hash of maintained sums: reserved, each
position as the limits value it (``val:``: |qty| x mark, else |basis|) and their sum, open count,
per-instrument reserved and count, so a check never scans reservations), ``:rate:*`` /
``:rate:<venue>`` (sorted sets of send times).
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from risk.errors import RiskRejected
from risk.ledger import LedgerSnapshot, ReservationRequest, VenueOrder
from risk.limits import RiskLimits

__all__ = ["RedisLedger"]

_SEP = "\x1f"  # joins the check's packed argument and its answer (never inside ids or numbers)
N_SCALE = Decimal(10) ** 6  # notional units
Q_SCALE = Decimal(10) ** 8  # quantity units

_COMMON = """
local P = KEYS[1]
local RES, DONE, POS, AGG, EXP = P .. ':res', P .. ':done', P .. ':pos', P .. ':agg', P .. ':exp'
local function num(v) return tonumber(v) or 0 end
-- What the limits count for a position: |qty| x its mark once one is set, else |cost basis|
-- (risk.ledger.InMemoryLedger._revalue); kept per key and summed, so a check reads two numbers.
local function revalue(k)
  local mark = redis.call('HGET', P .. ':mark', k)
  local v
  if mark then v = math.ceil(math.abs(num(redis.call('HGET', POS, 'qty:' .. k))) * tonumber(mark) / 100000000)
  else v = math.abs(num(redis.call('HGET', POS, k))) end
  local old = num(redis.call('HGET', AGG, 'val:' .. k))
  redis.call('HSET', AGG, 'val:' .. k, v)
  redis.call('HINCRBY', AGG, 'val_abs', v - old)
end
local function drop(cid)
  local raw = redis.call('HGET', RES, cid)
  if not raw then return end
  local r = cjson.decode(raw)
  redis.call('HDEL', RES, cid)
  redis.call('ZREM', EXP, cid)
  redis.call('HINCRBY', AGG, 'reserved', 0 - r.n)
  redis.call('HINCRBY', AGG, 'open', -1)
  redis.call('HINCRBY', AGG, 'rinst:' .. r.k, 0 - r.n)  -- 0 - n: unary minus on 0 is -0, which HINCRBY refuses
  redis.call('HINCRBY', AGG, 'rcnt:' .. r.k, -1)
  redis.call('HSET', DONE, cid, cjson.encode({fq = r.fq, fn = r.fn, k = r.k, s = r.s}))
end
local function expire(now)
  local out = redis.call('ZRANGEBYSCORE', EXP, '-inf', now)
  for _, cid in ipairs(out) do drop(cid) end
  return out
end
"""

# One check-and-reserve: expire, assemble from maintained aggregates (O(1) in the number of
# reservations), check every limit, reserve.
_CHECK = (
    _COMMON
    + """
-- One packed argument (fields joined by \\31) and one string answer: a check is one small
-- round trip whose encoding and parsing cost little on the client.
local A, n_a = {}, 0
for field in (ARGV[1] .. '\\31'):gmatch('(.-)\\31') do n_a = n_a + 1; A[n_a] = field end
local cid, venue, key = A[1], A[2], A[3]
local sign, notional, qty = tonumber(A[4]), tonumber(A[5]), tonumber(A[6])
-- a reduce-only order adds no exposure when it reduces the position held right now (atomic here)
local reduces = false
if A[7] == '1' then
  local held = num(redis.call('HGET', POS, key))
  reduces = held ~= 0 and ((held > 0) ~= (sign > 0))
end
if reduces then notional = 0 end
local now, ttl, halted = tonumber(A[8]), tonumber(A[9]), A[10]
local cap_gross, cap_order, cap_pos = A[11], A[12], A[13]
local cap_conc, cap_open, cap_rate, cap_vrate = A[14], A[15], A[16], A[17]
local price = tonumber(A[18])
local expired = expire(now)
local function answer(status, limit, current, requested, cap)
  return table.concat({status, limit, current, requested, cap, table.concat(expired, '\\31')}, '\\31')
end
if redis.call('HEXISTS', RES, cid) == 1 then return answer('refused', 'duplicate_command', '0', '0', '0') end
if halted == '' then halted = redis.call('GET', P .. ':halt') or '' end  -- a halt shared by every client
if halted ~= '' and not reduces then return answer('refused', 'kill_switch', halted, '0', '0') end
if cap_order ~= '' and notional > tonumber(cap_order) then
  return answer('refused', 'max_notional_per_order', '0', tostring(notional), cap_order)
end
local agg = redis.call('HMGET', AGG, 'reserved', 'val_abs', 'open', 'rinst:' .. key, 'rcnt:' .. key)
local gross = num(agg[1]) + num(agg[2])
if cap_gross ~= '' and gross + notional > tonumber(cap_gross) then
  return answer('refused', 'max_gross_exposure', tostring(gross), tostring(notional), cap_gross)
end
local inst = num(redis.call('HGET', AGG, 'val:' .. key)) + num(agg[4])
if cap_pos ~= '' and inst + notional > tonumber(cap_pos) then
  return answer('refused', 'max_position_notional', tostring(inst), tostring(notional), cap_pos)
end
if cap_open ~= '' and num(agg[3]) + 1 > tonumber(cap_open) then
  return answer('refused', 'max_open_orders', tostring(num(agg[3])), '1', cap_open)
end
if cap_conc ~= '' and not reduces then
  local active = {}
  local pos = redis.call('HGETALL', POS)
  for i = 1, #pos, 2 do
    if string.sub(pos[i], 1, 4) ~= 'qty:' and num(pos[i + 1]) ~= 0 then active[pos[i]] = true end
  end
  local all = redis.call('HGETALL', AGG)
  for i = 1, #all, 2 do
    if string.sub(all[i], 1, 5) == 'rcnt:' and num(all[i + 1]) > 0 then active[string.sub(all[i], 6)] = true end
  end
  if not active[key] then
    local n = 0
    for _ in pairs(active) do n = n + 1 end
    if n + 1 > tonumber(cap_conc) then
      return answer('refused', 'max_concurrent_positions', tostring(n), '1', cap_conc)
    end
  end
end
local windows = {{P .. ':rate:*', cap_rate, 'max_orders_per_second'},
                 {P .. ':rate:' .. venue, cap_vrate, 'max_orders_per_second_per_venue'}}
for _, w in ipairs(windows) do
  if w[2] ~= '' then
    redis.call('ZREMRANGEBYSCORE', w[1], '-inf', now - 1)
    local count = redis.call('ZCARD', w[1])
    if count + 1 > tonumber(w[2]) then return answer('refused', w[3], tostring(count), '1', w[2]) end
  end
end
redis.call('HSET', RES, cid, cjson.encode({k = key, s = sign, n = notional, q = qty, p = price,
  r = reduces and 1 or 0, fq = 0, fn = 0}))
redis.call('ZADD', EXP, now + ttl, cid)
redis.call('HINCRBY', AGG, 'reserved', notional)
redis.call('HINCRBY', AGG, 'open', 1)
redis.call('HINCRBY', AGG, 'rinst:' .. key, notional)
redis.call('HINCRBY', AGG, 'rcnt:' .. key, 1)
for _, w in ipairs(windows) do
  if w[2] ~= '' then redis.call('ZADD', w[1], now, cid .. ':' .. now) end
end
return answer('ok', '', '', '', '')
"""
)

_RELEASE = (
    _COMMON
    + """
drop(ARGV[1])
return 1
"""
)

# One fill, from cumulative figures (a repeat or an older one is a no-op), shared by _FILL and _VENUE_ORDER.
_FILL_FN = """
local function fill(cid, cq, cn)
  local where, raw = RES, redis.call('HGET', RES, cid)
  if not raw then where, raw = DONE, redis.call('HGET', DONE, cid) end
  if not raw then return 0 end
  local r = cjson.decode(raw)
  if cq <= r.fq then return 0 end
  local old = num(redis.call('HGET', POS, r.k))
  local old_q = num(redis.call('HGET', POS, 'qty:' .. r.k))
  local fill_n, fill_q = r.s * (cn - r.fn), r.s * (cq - r.fq)
  local new_q = old_q + fill_q
  local new
  -- signed cost basis: adding sums; reducing scales with the quantity left; a flip restarts at
  -- the fill price; flat is zero (the same rule as risk.ledger.position_basis)
  if new_q == 0 then new = 0
  elseif old_q == 0 or (old_q > 0) == (fill_q > 0) then new = old + fill_n
  elseif (new_q > 0) == (old_q > 0) then new = math.floor(old * new_q / old_q + 0.5)
  else new = math.floor(fill_n * new_q / fill_q + 0.5) end
  redis.call('HSET', POS, r.k, new)
  redis.call('HSET', POS, 'qty:' .. r.k, new_q)
  revalue(r.k)
  r.fq, r.fn = cq, cn
  if where == RES then
    local left = 0
    if r.r ~= 1 then left = math.max(0, math.ceil(r.p * (r.q - cq) / 100000000)) end
    redis.call('HINCRBY', AGG, 'reserved', left - r.n)
    redis.call('HINCRBY', AGG, 'rinst:' .. r.k, left - r.n)
    r.n = left
  end
  redis.call('HSET', where, cid, cjson.encode(r))
  return 1
end
"""

_FILL = (
    _COMMON
    + _FILL_FN
    + """
return fill(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
"""
)

# One venue order update (risk.ledger.VenueOrder): ours when the ledger knows its client order id,
# else an outside order under its order key, reserved unchecked while open; fill; terminal drops.
_VENUE_ORDER = (
    _COMMON
    + _FILL_FN
    + """
local cid, key, k = ARGV[1], ARGV[2], ARGV[3]
if cid ~= '' and (redis.call('HEXISTS', RES, cid) == 1 or redis.call('HEXISTS', DONE, cid) == 1) then key = cid end
local sign, q, p = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cq, cn = tonumber(ARGV[7]), tonumber(ARGV[8])
local is_open, ro, counts = ARGV[9] == '1', ARGV[10] == '1', ARGV[11] == '1'
local now, ttl = tonumber(ARGV[12]), tonumber(ARGV[13])
if redis.call('HEXISTS', RES, key) == 0 and redis.call('HEXISTS', DONE, key) == 0 then
  local fq, fn = 0, 0
  if not counts then fq, fn = cq, cn end
  if is_open then
    local n = 0
    if not ro then n = math.max(0, math.ceil(p * (q - fq) / 100000000)) end
    redis.call('HSET', RES, key, cjson.encode({k = k, s = sign, n = n, q = q, p = p, r = ro and 1 or 0,
      fq = fq, fn = fn}))
    redis.call('ZADD', EXP, now + ttl, key)
    redis.call('HINCRBY', AGG, 'reserved', n)
    redis.call('HINCRBY', AGG, 'open', 1)
    redis.call('HINCRBY', AGG, 'rinst:' .. k, n)
    redis.call('HINCRBY', AGG, 'rcnt:' .. k, 1)
  else
    redis.call('HSET', DONE, key, cjson.encode({fq = fq, fn = fn, k = k, s = sign}))
  end
end
fill(key, cq, cn)
if not is_open then drop(key) end
return key
"""
)

_SET_POSITION = (
    _COMMON
    + """
local k, q, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if q == 0 then n = 0 end
redis.call('HSET', POS, k, n)
redis.call('HSET', POS, 'qty:' .. k, q)
revalue(k)
return 1
"""
)

# An amend's new terms for one reservation: what is left (price x unfilled quantity) replaces the
# reserved notional; with ARGV[4] == '1' a rise is checked first (kill switch, per-order, gross and
# per-instrument caps), and nothing changes when it is refused.
_REPRICE = (
    _COMMON
    + """
local cid, price, qty, check = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local halted, cap_gross, cap_order, cap_pos = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local raw = redis.call('HGET', RES, cid)
if not raw then return 'none' end
local r = cjson.decode(raw)
local left, whole = 0, 0
if r.r ~= 1 then
  left = math.max(0, math.ceil(price * (qty - r.fq) / 100000000))
  whole = math.ceil(price * qty / 100000000)
end
local delta = left - r.n
if check and delta > 0 then
  if halted == '' then halted = redis.call('GET', P .. ':halt') or '' end
  if halted ~= '' and r.r ~= 1 then return table.concat({'refused', 'kill_switch', halted, '0', '0'}, '\\31') end
  if cap_order ~= '' and whole > tonumber(cap_order) then
    return table.concat({'refused', 'max_notional_per_order', '0', tostring(whole), cap_order}, '\\31')
  end
  local agg = redis.call('HMGET', AGG, 'reserved', 'val_abs', 'rinst:' .. r.k)
  local gross = num(agg[1]) + num(agg[2])
  if cap_gross ~= '' and gross + delta > tonumber(cap_gross) then
    return table.concat({'refused', 'max_gross_exposure', tostring(gross), tostring(delta), cap_gross}, '\\31')
  end
  local inst = num(redis.call('HGET', AGG, 'val:' .. r.k)) + num(agg[3])
  if cap_pos ~= '' and inst + delta > tonumber(cap_pos) then
    return table.concat({'refused', 'max_position_notional', tostring(inst), tostring(delta), cap_pos}, '\\31')
  end
end
r.p, r.q, r.n = price, qty, left
redis.call('HSET', RES, cid, cjson.encode(r))
redis.call('HINCRBY', AGG, 'reserved', delta)
redis.call('HINCRBY', AGG, 'rinst:' .. r.k, delta)
return 'ok'
"""
)

_SET_MARK = (
    _COMMON
    + """
redis.call('HSET', P .. ':mark', ARGV[1], ARGV[2])
revalue(ARGV[1])
return 1
"""
)

_EXPIRE = (
    _COMMON
    + """
return expire(tonumber(ARGV[1]))
"""
)


def _refused(limit: str, current: str, requested: str, cap: str) -> bool:
    """Raise the refusal a reprice script answered (its amounts are notional micro-units)."""
    raise RiskRejected.for_limit(
        limit, current=Decimal(current) / N_SCALE, requested=Decimal(requested) / N_SCALE, cap=Decimal(cap) / N_SCALE
    )


def _up(value: Decimal, scale: Decimal) -> int:
    return int((value * scale).to_integral_value(ROUND_CEILING))


def _away(value: Decimal, scale: Decimal) -> int:
    """Scaled to an integer, rounded away from zero (a signed amount's magnitude is never understated)."""
    return _up(value, scale) if value >= 0 else -_up(-value, scale)


def _down(value: Decimal | int | None, scale: Decimal) -> str:
    return "" if value is None else str(int((Decimal(value) * scale).to_integral_value(ROUND_FLOOR)))


def _count(value: int | None) -> str:
    return "" if value is None else str(value)


class RedisLedger:
    """A ``Ledger`` in Redis; give it a URL or a ``redis.asyncio.Redis`` client."""

    def __init__(
        self,
        url_or_client: Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "gateway:risk",
        timeout: float = 2.0,
    ):
        import redis.asyncio as aioredis

        # One deadline per operation (``asyncio.timeout``, no task) rather than redis-py's
        # socket_timeout, which wraps every send in ``asyncio.wait_for`` (a task per command).
        self._timeout = timeout
        self._client = (
            aioredis.from_url(url_or_client, socket_connect_timeout=timeout, socket_timeout=None)
            if isinstance(url_or_client, str)
            else url_or_client
        )
        self._ns = namespace
        self._check = self._client.register_script(_CHECK)
        self._release = self._client.register_script(_RELEASE)
        self._fill = self._client.register_script(_FILL)
        self._venue_order = self._client.register_script(_VENUE_ORDER)
        self._set_position = self._client.register_script(_SET_POSITION)
        self._set_mark = self._client.register_script(_SET_MARK)
        self._expire = self._client.register_script(_EXPIRE)
        self._reprice = self._client.register_script(_REPRICE)

    async def _call(self, script: Any, args: list[Any]) -> Any:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self._timeout):
                return await script(keys=[self._ns], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise RiskRejected(
                f"portfolio gate unavailable (Redis: {exc.__class__.__name__}: {exc}); refusing (fails closed)",
                limit="ledger_unavailable",
            ) from exc

    async def check_and_reserve(
        self, request: ReservationRequest, limits: RiskLimits, *, now: float, halted: str | None
    ) -> list[str]:
        fields = [
            request.command_id,
            request.venue,
            f"{request.venue}|{request.instrument}",
            str(request.sign),
            str(_up(request.price * request.quantity, N_SCALE)),
            str(_up(request.quantity, Q_SCALE)),
            "1" if request.reduce_only else "0",
            repr(now),
            repr(limits.reservation_ttl_seconds),
            (halted or "").replace(_SEP, " "),
            _down(limits.max_gross_exposure, N_SCALE),
            _down(limits.max_notional_per_order, N_SCALE),
            _down(limits.max_position_notional, N_SCALE),
            _count(limits.max_concurrent_positions),
            _count(limits.max_open_orders),
            _count(limits.max_orders_per_second),
            _count(limits.max_orders_per_second_per_venue),
            str(_up(request.price, N_SCALE)),
        ]
        parts = _text(await self._call(self._check, [_SEP.join(fields)])).split(_SEP)
        status, limit, current, requested, cap = parts[:5]
        expired_ids = [cid for cid in parts[5:] if cid]
        if status == "ok":
            return expired_ids
        if limit == "kill_switch":
            raise RiskRejected(
                f"risk limit kill_switch: trading halted ({current}); only reduce-only orders pass", limit="kill_switch"
            )
        if limit == "duplicate_command":
            raise RiskRejected(f"command {request.command_id} already holds a reservation", limit=limit)
        scale = N_SCALE if limit in ("max_gross_exposure", "max_notional_per_order", "max_position_notional") else 1
        raise RiskRejected.for_limit(
            limit,
            current=Decimal(current) / scale,
            requested=Decimal(requested) / scale,
            cap=Decimal(cap) / scale,
        )

    async def set_halt(self, reason: str | None) -> None:
        """Halt (or resume) every gate sharing this namespace: the check script reads ``:halt``."""
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self._timeout):
                if reason is None:
                    await self._client.delete(f"{self._ns}:halt")
                else:
                    await self._client.set(f"{self._ns}:halt", reason.replace(_SEP, " "))
        except (RedisError, OSError, TimeoutError) as exc:
            raise RiskRejected(
                f"portfolio gate unavailable (Redis: {exc.__class__.__name__}: {exc}); the halt is local only",
                limit="ledger_unavailable",
            ) from exc

    async def release(self, command_id: str) -> None:
        await self._call(self._release, [command_id])

    async def reprice(
        self, command_id: str, price: Decimal, quantity: Decimal, limits: RiskLimits, *, check: bool, halted: str | None
    ) -> bool:
        args = [
            command_id,
            _up(price, N_SCALE),
            _up(quantity, Q_SCALE),
            "1" if check else "0",
            (halted or "").replace(_SEP, " "),
            _down(limits.max_gross_exposure, N_SCALE),
            _down(limits.max_notional_per_order, N_SCALE),
            _down(limits.max_position_notional, N_SCALE),
        ]
        parts = _text(await self._call(self._reprice, args)).split(_SEP)
        if parts[0] == "ok":
            return True
        if parts[0] == "none":
            return False
        _, limit, current, requested, cap = parts[:5]
        if limit == "kill_switch":
            raise RiskRejected(
                f"risk limit kill_switch: trading halted ({current}); an amend may not add exposure", limit=limit
            )
        return _refused(limit, current, requested, cap)

    async def apply_fill(self, command_id: str, cumulative_qty: Decimal, cumulative_notional: Decimal) -> None:
        await self._call(self._fill, [command_id, _up(cumulative_qty, Q_SCALE), _up(cumulative_notional, N_SCALE)])

    async def venue_order(self, order: VenueOrder, *, now: float, ttl: float) -> str:
        args = [
            order.command_id or "",
            order.order_key,
            f"{order.venue}|{order.instrument}",
            str(order.sign),
            _up(order.quantity, Q_SCALE),
            _up(order.price, N_SCALE),
            _up(order.cumulative_qty, Q_SCALE),
            _up(order.cumulative_notional, N_SCALE),
            "1" if order.is_open else "0",
            "1" if order.reduce_only else "0",
            "1" if order.counts else "0",
            repr(now),
            repr(ttl),
        ]
        return _text(await self._call(self._venue_order, args))

    async def set_position(self, venue: str, instrument: str, quantity: Decimal, notional: Decimal) -> None:
        # Rounded away from zero on both sides: a seeded exposure is never understated.
        qty = _away(quantity, Q_SCALE)
        await self._call(self._set_position, [f"{venue}|{instrument}", qty, _away(notional, N_SCALE) if qty else 0])

    async def set_mark(self, venue: str, instrument: str, price: Decimal) -> None:
        await self._call(self._set_mark, [f"{venue}|{instrument}", _up(price, N_SCALE)])

    async def expire(self, now: float) -> list[str]:
        return [_text(x) for x in await self._call(self._expire, [repr(now)])]

    async def snapshot(self) -> LedgerSnapshot:
        import orjson

        res = await self._client.hgetall(f"{self._ns}:res")
        pos = await self._client.hgetall(f"{self._ns}:pos")
        valued = await self._client.hget(f"{self._ns}:agg", "val_abs")
        reservations = {_text(k): Decimal(str(orjson.loads(v)["n"])) / N_SCALE for k, v in res.items()}
        positions: dict[tuple[str, str], Decimal] = {}
        quantities: dict[tuple[str, str], Decimal] = {}
        for k, v in pos.items():
            name = _text(k)
            if name.startswith("qty:"):
                venue, instrument = name[4:].split("|", 1)
                if qty := Decimal(_text(v)) / Q_SCALE:
                    quantities[(venue, instrument)] = qty
                continue
            venue, instrument = name.split("|", 1)
            positions[(venue, instrument)] = Decimal(_text(v)) / N_SCALE
        reserved = sum(reservations.values(), Decimal(0))
        return LedgerSnapshot(
            gross_exposure=Decimal(_text(valued or 0)) / N_SCALE + reserved,
            reserved=reserved,
            reservations=reservations,
            positions=positions,
            quantities=quantities,
        )

    async def clear(self) -> None:
        """Delete this namespace's keys (tests, benchmarks)."""
        keys = [k async for k in self._client.scan_iter(f"{self._ns}:*")]
        if keys:
            await self._client.delete(*keys)

    async def close(self) -> None:
        await self._client.aclose()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
