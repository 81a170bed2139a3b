"""A sample customer web app for the demo: its ExternalScript and its webhook receiver.

Plain Flask apps, the same kind a customer hosts on Heroku, served on loopback from a
thread by werkzeug so the demo needs nothing else running. The receiver only records what
arrives (headers and the exact body): the demo verifies the signatures afterwards, as a
customer's code would, with engine.signing.verify.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import threading
import wave
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from werkzeug.serving import BaseWSGIServer, make_server

from engine import signing

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


def create_receiver() -> Flask:
    """A webhook receiver: answers 204 and keeps each request in ``config["webhooks"]``."""
    app = Flask("callscript-receiver")
    app.config["webhooks"] = []

    @app.route("/webhooks", methods=["GET", "POST"])
    def webhooks() -> Response:
        app.config["webhooks"].append(
            {
                "method": request.method,
                "headers": dict(request.headers),
                "body": request.get_data(as_text=True),
                "query": request.query_string.decode(),
            }
        )
        return Response(status=204)

    return app


def verify_webhook(hook: dict[str, Any], url: str, secret: str) -> dict[str, Any]:
    """A received webhook checked as a customer would: its params, and whether the
    Standard Webhooks signature (`standard`) and X-Twilio-Signature (`twilio`) verify."""
    try:
        signing.verify(hook["body"], hook["headers"], secret)
        standard = True
    except signing.WebhookVerificationError:
        standard = False
    params = dict(parse_qsl(hook["body"] or hook["query"], keep_blank_values=True))
    twilio = hook["headers"].get("X-Twilio-Signature") == signing.twilio_signature(
        url, params if hook["method"] == "POST" else None, secret
    )
    return {"params": params, "standard": standard, "twilio": twilio}


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
