"""RFC 8941 structured-field dictionaries, enough to read ``Permissions-Policy``.

Permissions-Policy (W3C Permissions Policy §5.2) is a Dictionary whose members are inner
lists (the allowlist, e.g. ``camera=()``, ``microphone=(self "https://a.example")``) or
tokens (``geolocation=*``). The parser follows RFC 8941 §4.2 (parsing algorithms) and raises
StructuredFieldError with the offset where the text stops being a dictionary, because a
browser ignores the whole header then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,3})?")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")


class StructuredFieldError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Token:
    """A bare token (``self``, ``*``): kept apart from strings ("https://a.example")."""

    value: str


BareItem = int | float | str | bool | bytes | Token
Item = tuple[BareItem, dict[str, BareItem]]
Member = Item | tuple[list[Item], dict[str, BareItem]]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, what: str) -> StructuredFieldError:
        return StructuredFieldError(f"{what} at character {self.pos + 1}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def key(self) -> str:
        match = _KEY.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a lower-case key")
        self.pos = match.end()
        return match.group(0)

    def bare_item(self) -> BareItem:
        c = self.peek()
        if c == '"':
            return self.string()
        if c == "?":
            value = self.text[self.pos + 1 : self.pos + 2]
            if value not in ("0", "1"):
                raise self.fail("expected ?0 or ?1")
            self.pos += 2
            return value == "1"
        if c == ":":
            match = _BYTES.match(self.text, self.pos)
            if not match:
                raise self.fail("unterminated byte sequence")
            self.pos = match.end()
            return match.group(1).encode()
        if c == "-" or c.isdigit():
            match = _NUMBER.match(self.text, self.pos)
            if not match:
                raise self.fail("invalid number")
            self.pos = match.end()
            return float(match.group(0)) if match.group(1) else int(match.group(0))
        match = _TOKEN.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a token, string, number or boolean")
        self.pos = match.end()
        return Token(match.group(0))

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == "\\":
                nxt = self.peek()
                if nxt not in ('"', "\\"):
                    raise self.fail("invalid escape in string")
                out.append(nxt)
                self.pos += 1
            elif c == '"':
                return "".join(out)
            elif not " " <= c <= "~":
                raise self.fail("invalid character in string")
            else:
                out.append(c)
        raise self.fail("unterminated string")

    def parameters(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            name = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[name] = value
        return params

    def member(self) -> Member:
        if self.peek() == "(":
            self.pos += 1
            items: list[Item] = []
            while True:
                self.skip(" ")
                if self.peek() == ")":
                    self.pos += 1
                    return items, self.parameters()
                items.append((self.bare_item(), self.parameters()))
                if self.peek() not in (" ", ")"):
                    raise self.fail("expected a space or ')' in inner list")
        return self.bare_item(), self.parameters()


def parse_dictionary(text: str) -> dict[str, Member]:
    """RFC 8941 §4.2.2. A member without '=' is the boolean true, as the RFC says."""
    parser = _Parser(text.strip(" "))
    members: dict[str, Member] = {}
    if not parser.text:
        return members
    while True:
        name = parser.key()
        if parser.peek() == "=":
            parser.pos += 1
            members[name] = parser.member()
        else:
            members[name] = (True, parser.parameters())
        parser.skip(" \t")
        if not parser.peek():
            return members
        if parser.peek() != ",":
            raise parser.fail("expected ',' between members")
        parser.pos += 1
        parser.skip(" \t")
        if not parser.peek():
            raise parser.fail("trailing ','")
