"""Storage URLs may hold passwords: ``redact`` masks one URL, ``hide_secrets`` scrubs any text.

``remember_secrets(url)`` notes the password(s) of a storage URL opened in this process.
``hide_secrets(text)`` masks, by ``***``:

- the password of every URL in the text (``scheme://user:PASSWORD@host``, ``password=…``), known
  or not, and
- every remembered password of at least ``MIN_BARE_SECRET`` characters wherever it appears (a
  driver may quote it alone). A shorter one is masked only where it stands as a URL's password:
  replacing it as a bare substring would garble the message and give the password away (``e``
  turning "cannot open storage" into "cannot op***n storag***").

The command line passes every error message through ``hide_secrets``. ``redact(url)`` is the URL as
it may be printed, logged and stored.
"""

from __future__ import annotations

import re
import urllib.parse

MIN_BARE_SECRET = 8
"""Remembered passwords shorter than this are masked only inside URLs."""

_secrets: set[str] = set()
"""Passwords of the storage URLs seen in this process, scrubbed from messages."""

_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@?#]*:)(\S*)@")
"""A URL's user-info with a password: the password runs to the last ``@`` of the word (a raw
``@`` or ``/`` inside the password is masked too)."""
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&\s]*", flags=re.IGNORECASE)


def remember_secrets(url: str) -> None:
    """Note the password(s) in ``url`` (raw and URL-decoded) so that ``hide_secrets`` masks them."""
    _, sep, rest = url.partition("://")
    found = []
    if sep:
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            found.append(rest[:at].split(":", 1)[1])
    found += re.findall(r"[?&]password=([^&]*)", url, flags=re.IGNORECASE)
    for secret in found:
        for form in (secret, urllib.parse.unquote(secret)):
            if form:
                _secrets.add(form)


def hide_secrets(text: str) -> str:
    """``text`` with the passwords of its URLs, and the long remembered ones anywhere, as ``***``."""
    text = _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
    for secret in sorted(_secrets, key=len, reverse=True):
        if len(secret) >= MIN_BARE_SECRET:
            text = text.replace(secret, "***")
    return text


def redact(url: str) -> str:
    """A storage URL with its password replaced by ``***`` (safe to print, log and store).

    The user-info ends at the last ``@`` before the host, so a raw ``@`` or ``/`` inside the
    password is masked too; a ``password=`` query parameter (libpq's) is masked as well.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***@{rest[at + 1:]}"
        url = f"{scheme}{sep}{rest}"
    return _QUERY_PASSWORD.sub(r"\1***", url)
