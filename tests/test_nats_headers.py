"""NATS headers of a message's attributes, percent-encoded per the CloudEvents NATS binding."""

from __future__ import annotations

import pytest

from fastapi_events._nats_headers import (
    header_attributes,
    nats_headers,
    percent_decode,
    percent_encode,
)
from fastapi_events.errors import SerializationError


def test_percent_encoding_matches_the_bindings_example() -> None:
    """ "Euro € 😀" is encoded as the binding's example shows, and decoded back."""
    encoded = percent_encode("Euro \u20ac \U0001f600")
    assert encoded == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    assert percent_decode(encoded) == "Euro \u20ac \U0001f600"


def test_printable_ascii_but_quote_and_percent_is_left_alone() -> None:
    """Only space, ", %, controls and non-ASCII are encoded; lower-case hex decodes too."""
    plain = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
    assert percent_encode(plain) == plain
    assert percent_encode('a "b" 5%\t') == "a%20%22b%22%205%25%09"
    assert percent_decode("caf%c3%a9") == "caf\u00e9"


def test_quoted_values_of_older_senders_are_unquoted() -> None:
    """A double-quoted value is unquoted (backslash escapes) before percent-decoding."""
    assert percent_decode('"a \\"b\\" %41"') == 'a "b" A'


def test_an_overlong_encoding_is_refused() -> None:
    """Percent-encoded bytes that are not valid UTF-8 raise SerializationError."""
    with pytest.raises(SerializationError):
        percent_decode("%C0%A0")


def test_headers_carry_the_id_content_type_and_binary_datacontenttype() -> None:
    """Nats-Msg-Id first; the binary content-type is Content-Type and ce-datacontenttype."""
    headers = nats_headers("id 1", {"ce-type": "a b", "content-type": "application/json"})
    assert headers == {
        "Nats-Msg-Id": "id%201",
        "ce-type": "a%20b",
        "Content-Type": "application/json",
        "ce-datacontenttype": "application/json",
    }


def test_received_ce_header_names_are_case_insensitive() -> None:
    """Ce-Type and CE-ID read as ce-type and ce-id; other names are kept as sent."""
    assert header_attributes({"Ce-Type": "a%20b", "CE-ID": "1", "Nats-Msg-Id": "1"}) == {
        "ce-type": "a b",
        "ce-id": "1",
        "Nats-Msg-Id": "1",
    }
    assert header_attributes(None) == {}
