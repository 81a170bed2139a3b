"""<Redirect method="POST">URL</Redirect>: leave this document for another (Twilio's).

The URL is resolved against the current document when the verb runs (the document URL
is the call's, not the parser's), and fetched with the call's usual parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import Call, Fetch, Outcome

TAG = "Redirect"
NEEDS_ANSWER = False
"""A redirect plays nothing, so it must not answer the call on its own."""


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Redirect:
    attrs.check_attributes(element, ("method",))
    url = attrs.check_url(attrs.text_of(element, 4096), element, None)
    return Redirect(url=url, method=attrs.get_method(element), line=attrs.line_of(element))


async def run(call: Call, verb: Redirect) -> Outcome:
    return Fetch(call.resolve(verb.url), verb.method)
