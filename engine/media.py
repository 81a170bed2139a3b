"""Local files for the switch to play: downloaded Play URLs and rendered Speak text.

The switch only plays local files (DESIGN, "Settled decisions: Media"), so the engine
fetches every Play URL itself, through the SSRF guard and a size cap, into `--media-dir`,
and renders Speak text there with espeak-ng. Both are caches shared by every call of the
process (and by other engine processes on the same directory: every write is a temp file
renamed into place, so a reader never sees half a file).

Play cache (`<media_dir>/play/`): the file is `sha256(url)` plus an extension from the
content type (.wav for audio/wav, audio/x-wav, audio/wave; .mp3 for audio/mpeg), and a
sidecar `<key>.json` keeps the ETag / Last-Modified and when it was fetched. A cached file
is used without asking for `max-age` seconds (from the response's Cache-Control, else
`fresh_for`, default 300 s); after that it is revalidated with a conditional GET, and a
304 keeps it. If revalidation fails on the network or with a 5xx, the cached copy is
played (a caller hears the old prompt rather than an error). The URL fragment (Twilio's
connection overrides) is not part of the key.

Speech cache (`<media_dir>/speech/`): `sha256(language|voice|text).wav`, with language and
voice in canonical form. espeak-ng runs through `asyncio.create_subprocess_exec` (never a
shell; the text is one argument after `--`), so the event loop never blocks. Voices are
espeak-ng's `+m3` (man) and `+f3` (woman; Twilio's `alice` too). Text is capped at
`MAX_SPEECH_CHARS` characters; longer text is a ValueError, as is an unknown language.

Concurrent requests for the same key share one download or one rendering (a lock per key,
kept only while someone holds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import re
import time
import uuid
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from engine.errors import BadStatus, ConnectFailed, FetchTimeout, SpeechError
from engine.fetch import Fetcher

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = {
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "audio/wave": ".wav",
    "audio/vnd.wave": ".wav",
    "audio/mpeg": ".mp3",
    "audio/mp3": ".mp3",
}
# Twilio-style language tag (lower case) -> espeak-ng voice. Approximations are marked.
LANGUAGES = {
    "en-us": "en-us",
    "en": "en-us",
    "en-gb": "en-gb",
    "en-au": "en-gb",  # en-au: nearest
    "fr-fr": "fr-fr",
    "fr": "fr-fr",
    "fr-ca": "fr-fr",
    "fr-be": "fr-be",
    "fr-ch": "fr-ch",
    "it-it": "it",
    "it": "it",
    "es-es": "es",
    "es": "es",
    "es-mx": "es-419",
    "es-us": "es-419",
    "de-de": "de",
    "de": "de",
    "pt-pt": "pt",
    "pt-br": "pt-br",
    "nl-nl": "nl",
    "sv-se": "sv",
    "da-dk": "da",
    "nb-no": "nb",
    "pl-pl": "pl",
    "ru-ru": "ru",
    "ja-jp": "ja",
    "ko-kr": "ko",
    "zh-cn": "cmn",
    "ca-es": "ca",
    "fi-fi": "fi",
    "tr-tr": "tr",
    "cs-cz": "cs",
    "el-gr": "el",
    "ro-ro": "ro",
}
VOICES = {"man": "m3", "woman": "f3", "alice": "f3"}
MAX_SPEECH_CHARS = 4_000
KNOWN_ENTRIES = 10_000
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.IGNORECASE)
_STALE_OK = (ConnectFailed, FetchTimeout)


def espeak_voice(language: str, voice: str) -> str:
    """espeak-ng's `-v` value for a Twilio language and voice, or ValueError naming it."""
    lang = LANGUAGES.get(language.strip().lower())
    if lang is None:
        supported = ", ".join(sorted(k for k in LANGUAGES if "-" in k))
        raise ValueError(f"unsupported speech language {language!r} (supported: {supported})")
    variant = VOICES.get(voice.strip().lower())
    if variant is None:
        raise ValueError(f"unsupported voice {voice!r} (use man or woman)")
    return f"{lang}+{variant}"


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))


def _max_age(cache_control: str, default: float) -> float:
    """Seconds a response may be reused without asking: no-cache/no-store mean none."""
    lowered = cache_control.lower()
    if "no-cache" in lowered or "no-store" in lowered:
        return 0.0
    found = _MAX_AGE.search(cache_control)
    return float(found.group(1)) if found else default


class Media:
    """The engine's media cache: Play URLs downloaded and Speak text rendered, once each."""

    def __init__(
        self,
        media_dir: Path,
        fetcher: Fetcher,
        *,
        max_bytes: int = 20_000_000,
        fresh_for: float = 300.0,
        espeak: str = "espeak-ng",
        render_timeout: float = 30.0,
    ) -> None:
        self._play_dir = Path(media_dir).absolute() / "play"
        self._speech_dir = Path(media_dir).absolute() / "speech"
        self._play_dir.mkdir(parents=True, exist_ok=True)
        self._speech_dir.mkdir(parents=True, exist_ok=True)
        self._fetcher = fetcher
        self._max_bytes = max_bytes
        self._fresh_for = fresh_for
        self._espeak = espeak
        self._render_timeout = render_timeout
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Hot entries stay in memory, so a cached file costs no thread-pool hop per call.
        self._known: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def _remember(self, key: str, path: str, fresh_until: float = math.inf) -> str:
        self._known[key] = (path, fresh_until)
        self._known.move_to_end(key)
        if len(self._known) > KNOWN_ENTRIES:
            self._known.popitem(last=False)
        return path

    def _recall(self, key: str) -> str | None:
        known = self._known.get(key)
        if known is None or time.time() >= known[1]:
            return None
        return known[0]

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock

    async def play_path(self, url: str) -> str:
        """A local file holding the audio at `url`, downloaded only when needed."""
        key = _key(_without_fragment(url))
        if known := self._recall(f"play:{key}"):
            return known
        async with self._lock(f"play:{key}"):
            entry = await asyncio.to_thread(self._read_sidecar, key)
            if entry and time.time() - entry["fetched_at"] < entry["max_age"]:
                fresh_until = entry["fetched_at"] + entry["max_age"]
                return self._remember(
                    f"play:{key}", str(self._play_dir / entry["file"]), fresh_until
                )
            try:
                return await self._download(url, key, entry)
            except _STALE_OK + (BadStatus,) as exc:
                stale = entry and not (isinstance(exc, BadStatus) and exc.status < 500)
                if not stale:
                    raise
                log.warning("playing cached copy of %s: %s", url, exc)
                return str(self._play_dir / entry["file"])

    async def _download(self, url: str, key: str, entry: dict[str, Any] | None) -> str:
        """Fetch (or revalidate) into the cache and record the validators in the sidecar."""
        dest = self._play_dir / (entry["file"] if entry else f"{key}.{uuid.uuid4().hex}.new")
        result = await self._fetcher.download(
            url,
            dest,
            max_bytes=self._max_bytes,
            accept=lambda ctype: ctype in AUDIO_EXTENSIONS,
            validators=entry["validators"] if entry else None,
        )
        path = dest
        if not result.not_modified:
            path = self._play_dir / f"{key}{AUDIO_EXTENSIONS[result.content_type]}"
            if path != dest:
                await asyncio.to_thread(os.replace, dest, path)
        validators = dict(result.validators)
        sidecar = {
            "url": _without_fragment(url),
            "file": path.name,
            "content_type": result.content_type or (entry or {}).get("content_type", ""),
            "validators": validators,
            "fetched_at": time.time(),
            "max_age": _max_age(result.cache_control, self._fresh_for),
        }
        await asyncio.to_thread(self._write_sidecar, key, sidecar)
        fresh_until = sidecar["fetched_at"] + sidecar["max_age"]
        return self._remember(f"play:{key}", str(path), fresh_until)

    def _read_sidecar(self, key: str) -> dict[str, Any] | None:
        """The cache entry for `key`, or None if missing, unreadable or its file is gone."""
        try:
            entry = json.loads((self._play_dir / f"{key}.json").read_text("utf-8"))
            if (self._play_dir / entry["file"]).is_file():
                return entry
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def _write_sidecar(self, key: str, entry: dict[str, Any]) -> None:
        tmp = self._play_dir / f".{key}.{uuid.uuid4().hex}.json"
        tmp.write_text(json.dumps(entry), "utf-8")
        os.replace(tmp, self._play_dir / f"{key}.json")

    async def speech_path(self, text: str, language: str = "en-US", voice: str = "woman") -> str:
        """A local WAV of `text` spoken in `language`, rendered once per distinct text."""
        espeak = espeak_voice(language, voice)
        text = text.replace("\x00", " ")
        if not text.strip():
            raise ValueError("nothing to say: the text is empty")
        if len(text) > MAX_SPEECH_CHARS:
            raise ValueError(
                f"text to speak is {len(text)} characters, more than {MAX_SPEECH_CHARS}"
            )
        key = _key(f"{language.strip().lower()}|{voice.strip().lower()}|{text}")
        if known := self._recall(f"speech:{key}"):
            return known
        path = self._speech_dir / f"{key}.wav"
        async with self._lock(f"speech:{key}"):
            if not await asyncio.to_thread(path.is_file):
                await self._render(text, espeak, path)
        return self._remember(f"speech:{key}", str(path))

    async def _render(self, text: str, espeak: str, path: Path) -> None:
        """Run espeak-ng into a temp file, check it is a WAV, then rename it into place."""
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.wav")
        try:
            proc = await asyncio.create_subprocess_exec(
                self._espeak,
                "-v",
                espeak,
                "-w",
                str(tmp),
                "--",
                text,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SpeechError(
                f"cannot run {self._espeak} (is espeak-ng installed?): {exc}"
            ) from None
        try:
            async with asyncio.timeout(self._render_timeout):
                _, err = await proc.communicate()
            if proc.returncode != 0:
                detail = err.decode("utf-8", "replace").strip()
                raise SpeechError(f"{self._espeak} failed ({proc.returncode}): {detail}")
            await asyncio.to_thread(self._publish, tmp, path)
        except TimeoutError:
            raise SpeechError(f"{self._espeak} took over {self._render_timeout:g} s") from None
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            with contextlib.suppress(OSError):
                tmp.unlink()

    @staticmethod
    def _publish(tmp: Path, path: Path) -> None:
        with tmp.open("rb") as handle:
            head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE" or tmp.stat().st_size <= 44:
            raise SpeechError(f"espeak-ng wrote no usable WAV for {path.name}")
        os.replace(tmp, path)
