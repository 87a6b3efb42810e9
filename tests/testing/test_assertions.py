"""The assertions: what they accept, and failure messages a person can act on."""

from __future__ import annotations

import dataclasses
from unittest.mock import ANY

import pytest
from pydantic import BaseModel

from fastapi_events import Event
from fastapi_events._payload import LazyPayload
from fastapi_events.constants import FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR
from fastapi_events.testing import (
    assert_dispatched,
    assert_dispatched_in_order,
    assert_not_dispatched,
    matching_events,
)

SHOP = [
    Event("order.create", {"id": 7, "total": 10}),
    Event("user.login", {"user": "ann"}),
    Event("order.created", {"id": 7, "total": 12, "currency": "EUR"}),
    Event("cart.checked_out", {"id": 7}),
]


def failure(call: object, *args: object, **kwargs: object) -> str:
    """The message of the AssertionError ``call(*args, **kwargs)`` raises."""
    with pytest.raises(AssertionError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return str(info.value)


def test_payload_mismatch_lists_closest_first_with_differing_keys() -> None:
    """The failure names each differing key and puts the nearest event first."""
    message = failure(assert_dispatched, SHOP, "order.created", {"total": 10, "note": "x"})
    assert message == (
        "expected an event matching 'order.created' with a payload containing "
        "{'total': 10, 'note': 'x'} to be dispatched, but none was.\n"
        "Dispatched (4 events, closest match first):\n"
        "  #3 'order.created' {'id': 7, 'total': 12, 'currency': 'EUR'}\n"
        "      - 'total': expected 10, got 12\n"
        "      - 'note' is missing\n"
        "  #1 'order.create' {'id': 7, 'total': 10}\n"
        "  #4 'cart.checked_out' {'id': 7}\n"
        "  #2 'user.login' {'user': 'ann'}"
    )


def test_unknown_name_lists_the_most_similar_names_first() -> None:
    """A misspelt name shows the near miss at the top."""
    message = failure(assert_dispatched, SHOP, "cart.checkedout")
    assert message.splitlines()[2] == "  #4 'cart.checked_out' {'id': 7}"


def test_wrong_count_says_how_many_were_found() -> None:
    """times= failures give both numbers and list the matching events first."""
    message = failure(assert_dispatched, SHOP, "order.*", times=3)
    assert message.splitlines()[:4] == [
        "expected 3 events matching 'order.*' to be dispatched, but found 2.",
        "Dispatched (4 events, closest match first):",
        "  #1 'order.create' {'id': 7, 'total': 10}",
        "  #3 'order.created' {'id': 7, 'total': 12, 'currency': 'EUR'}",
    ]


def test_nothing_dispatched_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no events at all the message says so instead of listing nothing."""
    monkeypatch.delenv(FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR, raising=False)
    assert failure(assert_dispatched, [], "x").endswith("\nNo events were dispatched.")


def test_nothing_dispatched_points_at_the_disable_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """If dispatch is disabled by the environment, the message names the variable."""
    monkeypatch.setenv(FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR, "1")
    assert FASTAPI_EVENTS_DISABLE_DISPATCH_ENV_VAR in failure(assert_dispatched, [], "x")


def test_long_listings_are_cut_after_ten_events() -> None:
    """Only the ten closest events are listed, then a count of the rest."""
    events = [Event(f"item.{i}", {"i": i}) for i in range(25)]
    lines = failure(assert_dispatched, events, "other").splitlines()
    assert len(lines) == 13
    assert lines[-1] == "  ... and 15 more"


def test_long_payloads_are_shortened() -> None:
    """A huge payload is cut to a readable length in the listing."""
    message = failure(assert_dispatched, [Event("blob", {"data": "x" * 10_000})], "other")
    assert max(len(line) for line in message.splitlines()) < 200


def test_passing_assertion_returns_the_matches() -> None:
    """A passing assert_dispatched returns the matching events, oldest first."""
    assert assert_dispatched(SHOP, "order.*", {"id": 7}) == [SHOP[0], SHOP[2]]


def test_payload_matching_ignores_extra_keys_and_supports_any() -> None:
    """The expected mapping is a subset; unittest.mock.ANY matches any value."""
    assert_dispatched(SHOP, "order.created", {"total": 12, "currency": ANY})


def test_non_mapping_expected_payload_must_be_equal() -> None:
    """A non-mapping expected payload is compared with ==."""
    events = [Event("count", 3)]
    assert_dispatched(events, "count", 3)
    assert "payload: expected 4, got 3" in failure(assert_dispatched, events, "count", 4)


def test_model_and_dataclass_payloads_are_compared_by_field() -> None:
    """Pydantic models and dataclasses are matched on their fields."""

    class Order(BaseModel):
        id: int
        total: int

    @dataclasses.dataclass
    class Refund:
        amount: int

    events = [Event("order", Order(id=1, total=5)), Event("refund", Refund(amount=2))]
    assert_dispatched(events, "order", {"total": 5})
    assert_dispatched(events, "refund", {"amount": 2})


def test_mapping_expected_against_a_scalar_payload_explains() -> None:
    """Expecting keys of a payload that is not a mapping says what the payload is."""
    message = failure(assert_dispatched, [Event("count", 3)], "count", {"n": 3})
    assert "      - payload is not a mapping: 3" in message


def test_unevaluated_lazy_payload_is_explained() -> None:
    """A lazy payload that was never handled is named as such, not shown as an object."""
    events = [Event("report", LazyPayload(lambda: {"rows": 1}, None, True, None))]
    message = failure(assert_dispatched, events, "report", {"rows": 1})
    assert "#1 'report' <lazy payload, not evaluated>" in message
    assert "payload is lazy and not evaluated yet" in message


def test_not_dispatched_lists_the_offending_events() -> None:
    """assert_not_dispatched names every event that should not be there."""
    assert failure(assert_not_dispatched, SHOP, "order.*") == (
        "expected no event matching 'order.*' to be dispatched, but 2 were:\n"
        "  #1 'order.create' {'id': 7, 'total': 10}\n"
        "  #3 'order.created' {'id': 7, 'total': 12, 'currency': 'EUR'}"
    )


def test_not_dispatched_passes_when_only_the_payload_differs() -> None:
    """With a payload, only events matching name and payload count."""
    assert_not_dispatched(SHOP, "order.created", {"total": 10})


def test_not_dispatched_defaults_to_nothing_at_all() -> None:
    """assert_not_dispatched() with no name fails on any event."""
    assert_not_dispatched([])
    assert "but 4 were" in failure(assert_not_dispatched, SHOP)


def test_in_order_allows_events_in_between() -> None:
    """Order steps are a subsequence: other events may come between them."""
    matched = assert_dispatched_in_order(SHOP, "order.create", "cart.*")
    assert matched == [SHOP[0], SHOP[3]]


def test_in_order_failure_marks_matched_steps_and_earlier_occurrence() -> None:
    """An order failure shows the plan, where each step matched, and an earlier hit."""
    message = failure(assert_dispatched_in_order, SHOP, "cart.checked_out", "order.created")
    assert message == (
        "expected events dispatched in this order:\n"
        "  1. event matching 'cart.checked_out'\n"
        "  2. event matching 'order.created'\n"
        "step 2 failed: no event matching 'order.created' after #4 "
        "(one was dispatched earlier, at #3).\n"
        "Dispatched (4 events, in order):\n"
        "  #1 'order.create' {'id': 7, 'total': 10}\n"
        "  #2 'user.login' {'user': 'ann'}\n"
        "  #3 'order.created' {'id': 7, 'total': 12, 'currency': 'EUR'}\n"
        "  #4 'cart.checked_out' {'id': 7}  <- step 1"
    )


def test_in_order_steps_may_carry_payloads() -> None:
    """A (name, payload) step matches on the payload too."""
    message = failure(assert_dispatched_in_order, SHOP, ("order.created", {"total": 10}))
    assert "step 1 failed: no event matching 'order.created' with a payload" in message


def test_matching_events_filters_by_pattern_and_payload() -> None:
    """matching_events() returns what assert_dispatched would count."""
    assert matching_events(SHOP, "*", {"id": 7}) == [SHOP[0], SHOP[2], SHOP[3]]
