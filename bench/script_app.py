"""The customer's script for benchmarks: four verbs, optionally holding the call."""

from __future__ import annotations

from flask import Flask, Response

from engine.samples import tone_wav


def create_app(hold: float = 0) -> Flask:
    app = Flask("bench-script")
    middle = f'<Pause length="{int(hold)}"/>' if hold >= 1 else "<Play>/tone.wav</Play>"
    script = f"<Response><Answer/>{middle}<Speak>Hello.</Speak><Hangup/></Response>"
    tone = tone_wav(0.2)

    @app.post("/")
    def voice() -> Response:
        return Response(script, content_type="text/xml")

    @app.get("/tone.wav")
    def wav() -> Response:
        return Response(tone, content_type="audio/wav")

    return app
