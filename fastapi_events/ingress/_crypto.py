"""The ``ingress`` extra (PyJWT with cryptography), imported when a verifier is built.

.. versionadded:: 1.0
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["INGRESS_INSTALL_HINT", "import_cryptography", "import_jwt"]

INGRESS_INSTALL_HINT = (
    "Packages 'PyJWT' and 'cryptography' are not installed but required. "
    "You can install them by running `pip install 'fastapi-events[ingress]'`"
)


def import_jwt() -> ModuleType:
    """PyJWT, with its RSA algorithms (they need cryptography)."""
    try:
        import jwt
        from jwt.algorithms import RSAAlgorithm  # noqa: F401  (absent without cryptography)
    except ImportError as exc:
        raise ImportError(INGRESS_INSTALL_HINT) from exc
    return jwt


def import_cryptography() -> ModuleType:
    """cryptography's ``x509`` module (the verifiers' RSA and certificate support)."""
    try:
        from cryptography import x509
    except ImportError as exc:
        raise ImportError(INGRESS_INSTALL_HINT) from exc
    return x509
