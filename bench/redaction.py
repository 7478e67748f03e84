"""Storage URLs may hold passwords: ``redact`` masks one URL, ``hide_secrets`` scrubs any text.

``remember_secrets(url)`` notes the password(s) of a storage URL opened in this process; from then
on ``hide_secrets`` replaces them by ``***`` in any message (the command line passes every error
message through it). ``redact(url)`` is the URL as it may be printed, logged and stored.
"""

from __future__ import annotations

import re
import urllib.parse

_secrets: set[str] = set()
"""Passwords of the storage URLs seen in this process, scrubbed from messages."""


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
    """``text`` with every password of a storage URL seen in this process replaced by ``***``."""
    for secret in sorted(_secrets, key=len, reverse=True):
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
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)
