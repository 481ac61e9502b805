"""How the simulated phone shows a text message: as the WeCom client does.

A WeCom text message may carry links as `<a href="…">label</a>` (the hall's 待办 / 进度
replies do); the client shows them as links and everything else as plain text. Here every
character is escaped except such anchors with an http(s) address, which become real links.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_ANCHOR = re.compile(
    r"""<a\s+href=(["'])(https?://[^"'<>\s]+)\1\s*>(.*?)</a>""", re.IGNORECASE | re.DOTALL
)


def text_message(content: str) -> Markup:
    parts: list[str] = []
    last = 0
    for match in _ANCHOR.finditer(content):
        parts.append(escape(content[last : match.start()]))
        href, label = match.group(2), match.group(3)
        parts.append(Markup('<a href="{}">{}</a>').format(href, label))
        last = match.end()
    parts.append(escape(content[last:]))
    return Markup("").join(parts)
