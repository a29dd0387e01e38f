"""Free text from clients (names, labels), made safe to store: markup is removed with nh3.

Names are plain text, shown later by whatever renders rosters, perhaps as HTML that forgets
to escape. So a name that holds markup is stored without it (tags dropped, and the content of
script/style elements with them). A name without markup is stored exactly as sent: nh3
escapes `&` and `<` in its output, and "A & B" must not come back as "A &amp; B".
"""

from __future__ import annotations

import html
import re

import nh3

# Text without these characters comes out of nh3 exactly as it went in: no tag or comment
# can start without "<", no entity without "&"; the HTML parser only rewrites CR (newline
# normalisation) and NUL. Checked for every code point, and by a property test.
_MARKUP_OR_REWRITTEN = re.compile(r"[<&\r\x00]")


def plain_text(value: str) -> str:
    """`value` without markup; unchanged when it holds none."""
    if _MARKUP_OR_REWRITTEN.search(value) is None:
        return value  # most names: no parse at all (14 per problem on every submit)
    return parsed_plain_text(value)


def parsed_plain_text(value: str) -> str:
    """`plain_text` always through the HTML parser (what the shortcut must agree with)."""
    # Unescaping nh3's output can reveal markup that was escaped in the input ("&lt;b&gt;"),
    # so clean until nothing changes. A round that changes something removes a tag or an
    # entity, so the text shrinks; the bound only guards against a surprise in nh3.
    for _ in range(len(value) + 1):
        cleaned = html.unescape(nh3.clean(value, tags=set()))
        if cleaned == value:
            return value
        value = cleaned
    return html.escape(value)
