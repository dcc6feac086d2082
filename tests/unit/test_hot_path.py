"""The submit path's shortcuts (issue 16) give exactly what the long way gives, for any input."""

from __future__ import annotations

from decimal import Decimal, DecimalException, localcontext
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from gateway.filters import _on_grid
from gateway.model import MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, amount_violation
from venues.binance.signing import ws_param_text, ws_signing_payload
from venues.common import QUERY_SAFE, query_string

# Mostly the characters orders are made of, often a delimiter, sometimes anything at all.
_TEXT = st.text(
    st.one_of(
        st.sampled_from("abcXYZ019._-:/~!$'()*,?@"),
        st.sampled_from("&=+%#; \n"),
        st.characters(blacklist_categories=("Cs",)),  # a lone surrogate has no UTF-8 form: quote raises
    ),
    max_size=8,
)


def _quoted(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe=QUERY_SAFE)}={quote(v, safe=QUERY_SAFE)}" for k, v in params)


@given(st.lists(st.tuples(_TEXT, _TEXT), max_size=5))
def test_query_string_is_every_key_and_value_percent_encoded(params: list[tuple[str, str]]) -> None:
    assert query_string(params) == _quoted(params)


def test_query_string_encodes_a_delimiter_inside_a_value() -> None:
    # The unencoded shortcut must not take a value holding '&' or '=' for two params.
    assert query_string([("a", "1&b=2")]) == "a=1%26b%3D2"
    assert query_string([("a=b", "1"), ("c", "")]) == "a%3Db=1&c="
    assert query_string([("symbol", "BTCUSDT"), ("price", "40000.5")]) == "symbol=BTCUSDT&price=40000.5"
    assert query_string([]) == ""


_WS_VALUE = st.one_of(_TEXT, st.booleans(), st.integers(), st.floats(allow_nan=False), st.none())


@given(st.dictionaries(st.text(max_size=6), _WS_VALUE, max_size=12))
def test_ws_signing_payload_is_every_param_but_the_signature_sorted(params: dict[str, object]) -> None:
    expected = "&".join(f"{k}={ws_param_text(params[k])}" for k in sorted(params) if k != "signature")
    assert ws_signing_payload(params) == expected


def _amount_violation_by_digits(value: Decimal) -> str | None:
    """The digit rules spelled out on the digits themselves (the shortcut must agree everywhere)."""
    if not value.is_finite() or value <= 0:
        return "not a positive finite decimal"
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    significant = text.rstrip("0")
    exponent += len(text) - len(significant)
    if len(significant) + exponent > MAX_INTEGER_DIGITS or -exponent > MAX_FRACTION_DIGITS:
        return "too many digits"
    return None


_DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(lambda d, e: Decimal(d).scaleb(e), st.integers(-(10**30), 10**30), st.integers(-60, 60)),
)


@given(_DECIMALS)
def test_amount_violation_admits_exactly_what_the_digit_rules_admit(value: Decimal) -> None:
    assert (amount_violation(value) is None) == (_amount_violation_by_digits(value) is None)


def _on_grid_in_local_context(value: Decimal, origin: Decimal, step: Decimal) -> bool:
    if step == 0:
        return True
    with localcontext() as ctx:
        ctx.prec = 120
        try:
            return (value - origin) % step == 0
        except DecimalException:
            return False


_AMOUNTS = st.builds(lambda d, e: Decimal(d).scaleb(e), st.integers(0, 10**25), st.integers(-25, 25))


@given(_AMOUNTS, _AMOUNTS, _AMOUNTS)
def test_on_grid_agrees_with_a_localcontext(value: Decimal, origin: Decimal, step: Decimal) -> None:
    assert _on_grid(value, origin, step) == _on_grid_in_local_context(value, origin, step)
