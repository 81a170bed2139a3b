"""engine.media: Play URLs from a real loopback server, Speak rendered by the real espeak-ng."""

from __future__ import annotations

import asyncio
import gzip
import os
import shutil
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from engine.errors import BadContentType, BadStatus, BodyTooLarge
from engine.fetch import Fetcher
from engine.media import MAX_SPEECH_CHARS, Media, espeak_voice
from tests.engine.test_fetch import Handler, LoopbackServer

WAV = b"RIFF" + (36 + 8).to_bytes(4, "little") + b"WAVEfmt " + bytes(24) + b"data" + bytes(12)
MP3 = b"ID3" + bytes(64)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(allow_private=True) as f:
        yield f


def audio(body: bytes, ctype: str = "audio/wav", etag: str = '"v1"'):
    """A route serving `body` with an ETag, answering 304 to a matching If-None-Match."""

    def route(handler: Handler) -> None:
        if handler.headers.get("If-None-Match") == etag:
            handler.send_response(304)
            handler.send_header("ETag", etag)
            handler.end_headers()
            return
        handler.reply(200, body, ctype, {"ETag": etag})

    return route


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


async def test_play_url_downloaded_once(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/hello.wav"] = audio(WAV)
    media = Media(tmp_path, fetcher)
    first = await media.play_path(server.url("/hello.wav"))
    again = await asyncio.gather(*(media.play_path(server.url("/hello.wav")) for _ in range(5)))
    assert set(again) == {first}
    assert first.endswith(".wav") and os.path.isabs(first)
    assert Path(first).read_bytes() == WAV
    assert server.hits("/hello.wav") == 1
    assert leftovers(tmp_path / "play") == []


async def test_concurrent_first_requests_download_once(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/a.mp3"] = audio(MP3, "audio/mpeg")
    media = Media(tmp_path, fetcher)
    paths = await asyncio.gather(*(media.play_path(server.url("/a.mp3")) for _ in range(8)))
    assert len(set(paths)) == 1 and paths[0].endswith(".mp3")
    assert server.hits("/a.mp3") == 1


async def test_stale_entry_revalidated_with_304(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/p.wav"] = audio(WAV, "audio/x-wav")
    media = Media(tmp_path, fetcher, fresh_for=0)  # every play asks the server again
    first = await media.play_path(server.url("/p.wav"))
    inode = os.stat(first).st_ino
    second = await media.play_path(server.url("/p.wav"))
    assert second == first and os.stat(second).st_ino == inode
    assert server.hits("/p.wav") == 2
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert "if-none-match" not in server.requests[0].headers

    server.routes["/p.wav"] = audio(WAV + b"new", "audio/wav", etag='"v2"')
    third = await media.play_path(server.url("/p.wav"))
    assert third == first and Path(third).read_bytes() == WAV + b"new"


async def test_cache_survives_a_new_media_object(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/x.wav"] = audio(WAV)
    path = await Media(tmp_path, fetcher).play_path(server.url("/x.wav"))
    assert await Media(tmp_path, fetcher).play_path(server.url("/x.wav#rc=2")) == path
    assert server.hits("/x.wav") == 1


async def test_server_error_plays_stale_copy(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/s.wav"] = audio(WAV)
    media = Media(tmp_path, fetcher, fresh_for=0)
    path = await media.play_path(server.url("/s.wav"))
    server.routes["/s.wav"] = lambda h: h.reply(503, b"down", "text/plain")
    assert await media.play_path(server.url("/s.wav")) == path
    server.routes["/s.wav"] = lambda h: h.reply(404, b"gone", "text/plain")
    with pytest.raises(BadStatus, match="HTTP 404"):
        await media.play_path(server.url("/s.wav"))


async def test_bad_media_is_refused_cleanly(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    server.routes["/page"] = lambda h: h.reply(200, b"<html/>", "text/html")
    server.routes["/big.wav"] = audio(WAV + bytes(5000))
    media = Media(tmp_path, fetcher, max_bytes=1000)
    with pytest.raises(BadContentType, match="text/html"):
        await media.play_path(server.url("/page"))
    with pytest.raises(BodyTooLarge, match="1000-byte limit"):
        await media.play_path(server.url("/big.wav"))
    assert list((tmp_path / "play").iterdir()) == []


async def test_download_streams_and_caps_decompressed_bytes(
    server: LoopbackServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    """A large file arrives whole (written in batches); a gzip bomb stops at the cap."""
    big = WAV + os.urandom(700_000)
    server.routes["/big.wav"] = audio(big)
    bomb = gzip.compress(WAV + bytes(3_000_000))
    server.routes["/bomb.wav"] = lambda h: h.reply(
        200, bomb, "audio/wav", {"Content-Encoding": "gzip"}
    )
    media = Media(tmp_path, fetcher, max_bytes=1_000_000)
    assert Path(await media.play_path(server.url("/big.wav"))).read_bytes() == big
    with pytest.raises(BodyTooLarge, match="a larger body"):
        await media.play_path(server.url("/bomb.wav"))
    assert leftovers(tmp_path / "play") == []


@pytest.mark.parametrize("language", ["en-US", "fr-FR", "it-IT", "es-ES", "en-GB", "de-DE"])
async def test_speech_renders_wav(fetcher: Fetcher, tmp_path: Path, language: str) -> None:
    media = Media(tmp_path, fetcher)
    path = await media.speech_path("Hello, one two three.", language)
    data = Path(path).read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 1000
    assert await media.speech_path("Hello, one two three.", language) == path


def counting_espeak(tmp_path: Path) -> tuple[str, Path]:
    """A real wrapper around espeak-ng that leaves one line per run in a log."""
    log = tmp_path / "runs.log"
    script = tmp_path / "espeak-counting"
    real = shutil.which("espeak-ng")
    script.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{real}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


async def test_speech_rendered_once_when_concurrent(fetcher: Fetcher, tmp_path: Path) -> None:
    espeak, log = counting_espeak(tmp_path)
    media = Media(tmp_path / "media", fetcher, espeak=espeak)
    paths = await asyncio.gather(*(media.speech_path("Bonjour", "fr-FR") for _ in range(6)))
    assert len(set(paths)) == 1
    man = await media.speech_path("Bonjour", "fr-FR", "man")
    assert man != paths[0]
    assert await media.speech_path("Bonjour", "fr-fr", "woman") == paths[0]
    assert log.read_text().splitlines() == ["run", "run"]
    assert leftovers(tmp_path / "media" / "speech") == []


async def test_speech_text_is_one_argument(fetcher: Fetcher, tmp_path: Path) -> None:
    """Text that looks like options or shell is spoken, not interpreted."""
    media = Media(tmp_path, fetcher)
    path = await media.speech_path("-w /tmp/owned.wav; $(echo hi) `id` --help", "en-US")
    assert Path(path).read_bytes()[:4] == b"RIFF"
    assert not Path("/tmp/owned.wav").exists()


async def test_speech_input_errors(fetcher: Fetcher, tmp_path: Path) -> None:
    media = Media(tmp_path, fetcher)
    with pytest.raises(ValueError, match="'xx-YY'"):
        await media.speech_path("hi", "xx-YY")
    with pytest.raises(ValueError, match="'robot'"):
        await media.speech_path("hi", "en-US", "robot")
    with pytest.raises(ValueError, match="more than 4000"):
        await media.speech_path("a" * (MAX_SPEECH_CHARS + 1))
    with pytest.raises(ValueError, match="empty"):
        await media.speech_path("   ")
    assert espeak_voice("EN-us", "Man") == "en-us+m3"
    assert espeak_voice("es-ES", "woman") == "es+f3"
