"""An HTTP ingress as the document shows it: a channel at its path, the formats it accepts,
the ``POST`` binding of its operations and the kind of verifier as a security scheme.

Only kinds and header names are read from a verifier: never a secret, a key, an audience,
a topic ARN or a URL.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .._redact import capped_text
from ..ingress._cloudevents import CE_BATCH, CE_JSON
from ..ingress._formats import CLOUDEVENTS, FORMATS, PUBSUB, SNS
from ..ingress.hmac import HMACVerifier
from ..ingress.oidc import PubSubOIDCVerifier
from ..ingress.sns_signature import SNSSignatureVerifier
from ._channels import Destination
from ._events import Namer, qualified_name
from ._ingresses import ServedIngress

__all__ = ["HTTP_OPERATION_BINDINGS", "SecuritySchemes", "ingress_destination", "verifier_kind"]

#: The AsyncAPI http binding of an ingress's operations: events are POSTed.
HTTP_OPERATION_BINDINGS: dict[str, Any] = {"http": {"method": "POST", "bindingVersion": "0.3.0"}}
_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[A-Za-z_]+)?\}")
_FORMAT_TEXTS = {
    CLOUDEVENTS: (
        "CloudEvents 1.0 in binary mode (`ce-*` headers, the data as the body), structured "
        f"(`{CE_JSON}`) and batched (`{CE_BATCH}`)"
    ),
    PUBSUB: "Pub/Sub push envelopes (`application/json`)",
    SNS: "SNS HTTP notifications (`x-amz-sns-message-type` header)",
}
_PUBSUB_SCHEME: dict[str, Any] = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": (
        "A Google-signed OIDC ID token of the Pub/Sub push subscription's service account "
        "in `Authorization: Bearer`: RS256 signature, issuer, audience and expiry checked."
    ),
}
_SNS_SCHEME: dict[str, Any] = {
    "type": "asymmetricEncryption",
    "description": (
        "The SNS message signature (SignatureVersion 1 or 2), checked with the key of the "
        "SNS signing certificate the message names (https, on an allowed host)."
    ),
}
#: verifier kind -> (a name for the scheme's id, the scheme).
_FIXED_SCHEMES: dict[str, tuple[str, dict[str, Any]]] = {
    "pubsub-oidc": ("pubsubOidc", _PUBSUB_SCHEME),
    "sns-signature": ("snsSignature", _SNS_SCHEME),
}
_VERIFIED_BY = {
    "hmac": "Requests are verified by their HMAC-SHA256 signature (a shared secret).",
    "pubsub-oidc": "Requests are verified by their Pub/Sub OIDC token.",
    "sns-signature": "Requests are verified by their SNS message signature.",
    "unauthenticated": (
        "Requests are NOT verified (`verifier=ALLOW_UNAUTHENTICATED`): whoever reaches the "
        "path can hand events to the handlers."
    ),
}


def verifier_kind(verifier: object) -> str:
    """``hmac``, ``pubsub-oidc``, ``sns-signature``, ``unauthenticated`` (no verifier) or
    ``custom``."""
    if verifier is None:
        return "unauthenticated"
    if isinstance(verifier, HMACVerifier):
        return "hmac"
    if isinstance(verifier, PubSubOIDCVerifier):
        return "pubsub-oidc"
    if isinstance(verifier, SNSSignatureVerifier):
        return "sns-signature"
    return "custom"


def ingress_destination(served: ServedIngress) -> Destination:
    """The channel of an ingress: its path (with its parameters), what it accepts, how
    requests are verified, and how it answers."""
    ingress, path = served.ingress, served.path
    address = _address(path)
    name = (address or path or "").strip("/").replace("{", "").replace("}", "")
    name = name or ("root" if path else "ingress")
    found = Destination("http", "HTTP ingress", address, name, label=path or "(path unknown)")
    if found.address is not None:
        for parameter in _PARAMETER.findall(found.address):
            found.parameters[parameter] = {"description": f"The path parameter `{parameter}`."}
    found.where = _where(path)
    formats = [fmt for fmt in FORMATS if fmt in ingress.formats]
    found.notes.append("Accepts " + "; ".join(_FORMAT_TEXTS[fmt] for fmt in formats) + ".")
    kind = verifier_kind(ingress.verifier)
    found.notes.append(_VERIFIED_BY.get(kind) or _custom(ingress.verifier))
    found.notes.append(
        "Answered 200 once every handler took every event, 5xx otherwise (the sender "
        f"delivers again); bodies over {ingress.max_body_bytes} bytes get 413."
    )
    found.operation_bindings.update(copy.deepcopy(HTTP_OPERATION_BINDINGS))
    found.extensions["x-fastapi-events-formats"] = formats
    found.extensions["x-fastapi-events-verifier"] = kind
    return found


def _address(path: str | None) -> str | None:
    """``path`` with Starlette's ``{name:int}`` written ``{name}``; ``None`` when unknown or
    holding braces that are no parameter (not allowed in an AsyncAPI address)."""
    if path is None:
        return None
    rest = _PARAMETER.sub("", path)
    return None if "{" in rest or "}" in rest else _PARAMETER.sub(r"{\1}", path)


def _where(path: str | None) -> str:
    if path is None:
        return (
            "Events POSTed to an EventIngress at a path the catalogue does not know (pass "
            "`ingresses={'/path': ingress}`), handed to the handlers listed as its operations."
        )
    shown = capped_text(path, 300)
    return f"Events POSTed to `{shown}`, handed to the handlers listed as its operations."


def _custom(verifier: object) -> str:
    return f"Requests are verified by `{qualified_name(verifier)}`."


class SecuritySchemes:
    """The ``components.securitySchemes`` of a document: one per kind of verifier (and
    per HMAC header name), shared by the operations of every ingress using it."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}
        self._ids = Namer()

    def security(self, verifier: object) -> list[dict[str, str]]:
        """The ``security`` of an operation of an ingress checked by ``verifier``
        (``[]``: no scheme says it, the channel's description does)."""
        found = _scheme(verifier)
        if found is None:
            return []
        base, scheme = found
        key = next((k for k, known in self.components.items() if known == scheme), None)
        if key is None:
            key = self._ids(base)
            self.components[key] = scheme
        return [{"$ref": f"#/components/securitySchemes/{key}"}]


def _scheme(verifier: object) -> tuple[str, dict[str, Any]] | None:
    """A name for the scheme's id, and the scheme (a fresh copy: documents are the caller's)."""
    if isinstance(verifier, HMACVerifier):
        return "hmac", _hmac_scheme(verifier)
    fixed = _FIXED_SCHEMES.get(verifier_kind(verifier))
    return None if fixed is None else (fixed[0], copy.deepcopy(fixed[1]))


def _hmac_scheme(verifier: HMACVerifier) -> dict[str, Any]:
    header = capped_text(verifier.header, 120)
    stamp = capped_text(verifier.timestamp_header, 120)
    description = (
        f"HMAC-SHA256 with a shared secret: `{header}: sha256=<hex>` signs "
        f"`<timestamp>.<body>`, `{stamp}` is the Unix time in seconds, within "
        f"{verifier.window_seconds:g} s of the receiver's clock. An accepted signature is "
        "refused if sent again (a replay)."
    )
    return {"type": "httpApiKey", "name": header, "in": "header", "description": description}
