"""Free text from clients (names, labels), made safe to store: markup is removed with nh3.

Names are plain text, shown later by whatever renders rosters, perhaps as HTML that forgets
to escape. So a name that holds markup is stored without it (tags dropped, and the content of
script/style elements with them). A name without markup is stored exactly as sent: nh3
escapes `&` and `<` in its output, and "A & B" must not come back as "A &amp; B".
"""

from __future__ import annotations

import html

import nh3


def plain_text(value: str) -> str:
    """`value` without markup; unchanged when it holds none."""
    # Unescaping nh3's output can reveal markup that was escaped in the input ("&lt;b&gt;"),
    # so clean until nothing changes. A round that changes something removes a tag or an
    # entity, so the text shrinks; the bound only guards against a surprise in nh3.
    for _ in range(len(value) + 1):
        cleaned = html.unescape(nh3.clean(value, tags=set()))
        if cleaned == value:
            return value
        value = cleaned
    return html.escape(value)
