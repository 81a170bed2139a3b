"""A sample ExternalScript server: what a customer's web app looks like, for the demo.

It is a plain Flask app, the same kind a customer hosts on Heroku, served on loopback
from a thread by werkzeug so the demo needs nothing else running.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import threading
import wave

from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

WELCOME = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Answer/>
  <Speak language="en-US">Welcome to callscript.</Speak>
  <Gather action="/menu" numDigits="1" timeout="5">
    <Speak>Press 1 to hear a tone, or 2 to hear French.</Speak>
  </Gather>
  <Speak>We did not get your choice. Goodbye.</Speak>
  <Hangup/>
</Response>
"""

MENU = {
    "1": "<Play>/tone.wav</Play><Speak>That was a tone. Goodbye.</Speak>",
    "2": '<Speak language="fr-FR">Bonjour et au revoir.</Speak>',
}


def tone_wav(seconds: float = 0.5, freq: float = 440.0, rate: int = 8000) -> bytes:
    """A short sine tone as a 16-bit mono WAV."""
    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(seconds * rate))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buf.getvalue()


def create_app() -> Flask:
    app = Flask("callscript-sample")
    app.config["calls"] = []

    @app.post("/")
    def welcome() -> Response:
        app.config["calls"].append(request.form.to_dict())
        return Response(WELCOME, content_type="text/xml")

    @app.post("/menu")
    def menu() -> Response:
        app.config["calls"].append(request.form.to_dict())
        body = MENU.get(request.form.get("Digits", ""), "<Speak>Unknown choice.</Speak>")
        return Response(f"<Response>{body}<Hangup/></Response>", content_type="text/xml")

    @app.get("/tone.wav")
    def tone() -> Response:
        return Response(tone_wav(), content_type="audio/wav")

    return app


class ScriptServer:
    """Serves a WSGI app on 127.0.0.1 from a daemon thread."""

    def __init__(self, app: Flask, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __enter__(self) -> ScriptServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
