"""<Speak voice="man" language="en-US" loop="1">text</Speak>: text to speech (Twilio's Say).

The engine renders the text to a WAV once (``call.speech_path``, in a thread pool, cached)
and the switch plays it like any file, so TTS needs nothing on the switch. Voice and
language follow Twilio: ``voice`` is man or woman (``alice`` is taken as woman so Twilio
scripts run; Polly/Google voices are refused), default man as in Twilio; ``language``
accepts Twilio's short forms (``en``, ``en-gb``, ``fr``) and stores the canonical tag.
A rendering failure is logged and the verb skipped, like a Play URL that cannot be
fetched: the caller hears nothing rather than being hung up on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from verbs import attrs
from verbs.base import CONTINUE, Call, Hangup, Outcome
from verbs.errors import MediaError, VerbError
from verbs.play import play_file

TAG = "Speak"
NEEDS_ANSWER = True
MAX_LOOP = 1000
MAX_TEXT = 4000
"""engine.media's cap (Twilio's is 4096); also bounds the time a render can take."""

LANGUAGES = (
    "en-US", "en-GB", "en-AU", "fr-FR", "fr-CA", "fr-BE", "fr-CH", "it-IT", "es-ES",
    "es-MX", "es-US", "de-DE", "pt-PT", "pt-BR", "nl-NL", "sv-SE", "da-DK", "nb-NO",
    "pl-PL", "ru-RU", "ja-JP", "ko-KR", "zh-CN", "ca-ES", "fi-FI", "tr-TR", "cs-CZ",
    "el-GR", "ro-RO",
)
"""Canonical tags accepted, the ones engine.media renders (a test keeps them in step),
so a language the renderer lacks is refused when the document is parsed, not skipped
in the middle of a call."""

_LANGUAGE_CHOICES = {tag.lower(): tag for tag in LANGUAGES} | {
    "en": "en-US",
    "en-uk": "en-GB",
    "fr": "fr-FR",
    "it": "it-IT",
    "es": "es-ES",
    "de": "de-DE",
}
VOICES = ("man", "woman")
_VOICE_CHOICES = {"man": "man", "woman": "woman", "alice": "woman"}
DEFAULT_VOICE = "man"
DEFAULT_LANGUAGE = "en-US"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Speak:
    text: str
    voice: str = DEFAULT_VOICE
    language: str = DEFAULT_LANGUAGE
    loop: int = 1
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Speak:
    attrs.check_attributes(element, ("voice", "language", "loop"))
    text = attrs.text_of(element, MAX_TEXT)
    if not text:
        raise VerbError("<Speak> needs text to say", attrs.line_of(element), None)
    return Speak(
        text=text,
        voice=attrs.get_enum(element, "voice", DEFAULT_VOICE, _VOICE_CHOICES),
        language=attrs.get_enum(element, "language", DEFAULT_LANGUAGE, _LANGUAGE_CHOICES),
        loop=attrs.get_int(element, "loop", 1, 0, MAX_LOOP),
        line=attrs.line_of(element),
    )


async def speech_file(call: Call, verb: Speak) -> str | None:
    """The rendered WAV, or None (logged) if rendering failed. Shared with Gather."""
    try:
        return await call.speech_path(verb.text, verb.language, verb.voice)
    except MediaError as exc:
        log.warning("Speak skipped: could not render %r: %s", verb.text[:40], exc)
        return None


async def run(call: Call, verb: Speak) -> Outcome:
    if call.gone:
        return Hangup()
    path = await speech_file(call, verb)
    if path is None:
        return CONTINUE
    return await play_file(call, path, attrs.repeat_count(verb.loop))
