"""<Gather>: collect DTMF digits while a prompt plays (Twilio's Gather, DTMF only).

One FreeSWITCH ``play_and_get_digits`` does the whole verb, so the first key stops the
prompt, the timeouts run on the switch, and a live-control ``uuid_break`` ends it like
any app. Its argument is one space-separated line:

    min max tries timeout_ms terminators prompt invalid_file var_name regex digit_timeout_ms
    1   N   1     T          #           P      silence_stream://250 cs_gather_digits ^[0-9*#]+$ D

- min is ``minDigits`` (1). Fewer digits end with ``read_result: failure`` while the
  digits variable is still set (esl-captures/outbound_gather_no_input.esl, third read),
  so a failed read counts as no input whatever the variable holds.
- max is ``numDigits`` or ``maxDigits`` (reaching it ends the gather at once, as in
  Twilio), else 127: the switch collects into a 128-byte buffer that also holds the
  terminating NUL. Giving both is a document error naming ``maxDigits``.
- the regex is ``validDigits`` as a character class (``^[0-9*#]+$`` by default). The
  switch reads any key; an entry holding a key outside ``validDigits`` fails the regex,
  and FreeSWITCH then clears the digits variable and plays the invalid sound: the whole
  entry is invalid, which the engine treats as no input (the next verb runs, or the
  action gets an empty Digits with ``actionOnEmptyResult``). The keys are not silently
  dropped from the entry: "1x2" is not "12". The engine checks the digits against
  ``validDigits`` too, so this holds on any switch.
- digit_timeout is ``interDigitTimeout`` in ms (default: ``timeout``).
- terminators is ``finishOnKey``; FreeSWITCH treats an empty field as ``#``, so "no
  finish key" (``finishOnKey=""``) is sent as ``none``, which holds no DTMF symbol.
- the prompt is the nested Play/Speak/Pause verbs, each loop included: one local file, or
  ``file_string://a!b!c``; a Pause is ``silence_stream://MS``. With no prompt (or none
  that could be fetched) it is ``silence_stream://1``, because the field is positional.
- invalid_file is ``silence_stream://250``: it is positional too (the variable name comes
  after it), it plays only when the entry fails (no digits), and a quarter second of
  silence is inaudible where a real file would need installing on every switch. It is
  what the recorded sessions in esl-captures/ use.
- the switch splits the argument on spaces and the prompt on ``!``, so no path may hold
  either: the engine names its media and speech files by hash under ``--media-dir``
  (which must not contain spaces). A path that does is left out of the prompt, logged.

The digits come back in ``variable_cs_gather_digits`` on the completion (the switch
clears the variable when the app starts, so an earlier Gather cannot leak into this
one). Digits → ``Fetch(action, method, Digits)``, including a partial entry ended by the
timeout (Twilio submits what was typed). No digits → the next verb (Twilio), unless
``actionOnEmptyResult="true"``, which fetches the action with an empty Digits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from esl.protocol import Event
from verbs import attrs, pause, play, speak
from verbs.base import CONTINUE, Call, Fetch, Hangup, Outcome
from verbs.errors import VerbError

TAG = "Gather"
NEEDS_ANSWER = True
APP = "play_and_get_digits"
VAR_NAME = "cs_gather_digits"
DIGITS_REGEX = "^[0-9*#]+$"
INVALID_FILE = "silence_stream://250"
NO_PROMPT = "silence_stream://1"
NO_TERMINATOR = "none"
MAX_DIGITS = 127
MAX_TIMEOUT = 600
PROMPT_LOOP_FOREVER = 20
"""``loop="0"`` inside a Gather: the prompt is one string, so "for ever" is 20 plays."""

FINISH_KEYS = {key: key for key in "0123456789*#"} | {"": ""}
DTMF_KEYS = "0123456789*#ABCD"
DEFAULT_VALID = "0123456789*#"
NESTED = {module.TAG: module for module in (play, speak, pause)}

PromptVerb = play.Play | speak.Speak | pause.Pause

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gather:
    action: str | None = None
    method: str = "POST"
    timeout: int = 5
    finish_on_key: str = "#"
    num_digits: int | None = None
    action_on_empty_result: bool = False
    prompt: tuple[PromptVerb, ...] = ()
    min_digits: int = 1
    max_digits: int | None = None
    valid_digits: str = DEFAULT_VALID
    inter_digit_timeout: int | None = None
    line: int | None = field(default=None, compare=False)


def parse(element: attrs.Element) -> Gather:
    attrs.check_attributes(
        element,
        ("action", "method", "timeout", "finishOnKey", "numDigits", "input", "actionOnEmptyResult",
         "minDigits", "maxDigits", "validDigits", "interDigitTimeout"),
    )
    attrs.check_no_text(element)
    attrs.get_enum(element, "input", "dtmf", {"dtmf": "dtmf"})
    num_digits = attrs.get_optional_int(element, "numDigits", 1, MAX_DIGITS)
    max_digits = attrs.get_optional_int(element, "maxDigits", 1, MAX_DIGITS)
    if num_digits is not None and max_digits is not None:
        raise VerbError("give numDigits or maxDigits, not both", attrs.line_of(element),
                        "maxDigits")
    min_digits = attrs.get_int(element, "minDigits", 1, 1, MAX_DIGITS)
    if min_digits > (num_digits or max_digits or MAX_DIGITS):
        raise VerbError("must not exceed numDigits/maxDigits", attrs.line_of(element),
                        "minDigits")
    return Gather(
        action=attrs.get_url(element, "action"),
        method=attrs.get_method(element),
        timeout=attrs.get_int(element, "timeout", 5, 1, MAX_TIMEOUT),
        finish_on_key=attrs.get_enum(element, "finishOnKey", "#", FINISH_KEYS),
        num_digits=num_digits,
        action_on_empty_result=attrs.get_bool(element, "actionOnEmptyResult", False),
        min_digits=min_digits,
        max_digits=max_digits,
        valid_digits=_valid_digits(element),
        inter_digit_timeout=attrs.get_optional_int(element, "interDigitTimeout", 1, MAX_TIMEOUT),
        prompt=tuple(_parse_nested(child) for child in element),
        line=attrs.line_of(element),
    )


def _valid_digits(element: attrs.Element) -> str:
    """The keys of ``validDigits`` in canonical order (a-d taken as A-D)."""
    raw = element.get("validDigits")
    if raw is None:
        return DEFAULT_VALID
    keys = raw.strip().upper()
    if not keys or any(key not in DTMF_KEYS for key in keys):
        raise VerbError(f"must be keys from {DTMF_KEYS}, got {raw!r}",
                        attrs.line_of(element), "validDigits")
    return "".join(key for key in DTMF_KEYS if key in keys)


def digits_regex(valid: str) -> str:
    """``validDigits`` as the switch's regex; no space or ``!`` can appear in it."""
    keys = valid.replace("0123456789", "0-9")
    return f"^[{keys}]+$"


def _parse_nested(child: attrs.Element) -> PromptVerb:
    module = NESTED.get(child.tag) if isinstance(child.tag, str) else None
    if module is None:
        raise VerbError(
            f"<Gather> may contain only Play, Speak and Pause, not <{child.tag}>",
            attrs.line_of(child),
            None,
        )
    return module.parse(child)


async def sound_files(call: Call, verb: PromptVerb, forever: int) -> list[str]:
    """The files one Play/Speak/Pause plays as part of a longer sound (a Gather prompt, a
    Conference's hold music), ``loop="0"`` counted as ``forever``; empty if the media
    cannot be had or its path would break the switch's ``file_string://`` list."""
    if isinstance(verb, pause.Pause):
        return [f"silence_stream://{verb.milliseconds}"] if verb.length else []
    if isinstance(verb, play.Play):
        path = await play.media_file(call, verb.url)
    else:
        path = await speak.speech_file(call, verb)
    if path is None:
        return []
    if any(c.isspace() or c == "!" for c in path):
        log.error("sound left out: %r has a space or '!'", path)
        return []
    return [path] * (forever if verb.loop == 0 else verb.loop)


async def build_prompt(call: Call, verb: Gather) -> str:
    parts: list[str] = []
    for nested in verb.prompt:
        parts += await sound_files(call, nested, PROMPT_LOOP_FOREVER)
    if not parts:
        return NO_PROMPT
    if len(parts) == 1:
        return parts[0]
    return "file_string://" + "!".join(parts)


def app_arg(verb: Gather, prompt: str) -> str:
    """The exact ``play_and_get_digits`` argument (see the module docstring)."""
    timeout_ms = verb.timeout * 1000
    digit_timeout_ms = (verb.inter_digit_timeout or verb.timeout) * 1000
    terminators = verb.finish_on_key or NO_TERMINATOR
    max_digits = verb.num_digits or verb.max_digits or MAX_DIGITS
    return (
        f"{verb.min_digits} {max_digits} 1 {timeout_ms} {terminators} {prompt} {INVALID_FILE} "
        f"{VAR_NAME} {digits_regex(verb.valid_digits)} {digit_timeout_ms}"
    )


def entered(verb: Gather, event: Event) -> str:
    """The valid entry on a completion, or "" (failed read, or a key outside validDigits)."""
    digits = event.field(f"variable_{VAR_NAME}") or ""
    if event.field("variable_read_result") == "failure":
        return ""
    if any(key not in verb.valid_digits for key in digits):
        return ""
    return digits


async def run(call: Call, verb: Gather) -> Outcome:
    if call.gone:
        return Hangup()
    prompt = await build_prompt(call, verb)
    event = await call.execute(APP, app_arg(verb, prompt))
    if event is None or call.gone:
        return Hangup()
    digits = entered(verb, event)
    if not digits and not verb.action_on_empty_result:
        return CONTINUE
    action = call.resolve(verb.action) if verb.action else call.url
    return Fetch(action, verb.method, (("Digits", digits),))
