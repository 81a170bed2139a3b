"""The engine's error tree. Codes follow Twilio's error dictionary where one fits, so a
customer's fallback handler sees the ErrorCode it already knows.

    EngineError
    ├── FetchError (code)                a script or media URL could not be fetched
    │   ├── BlockedURL        11210      the URL resolves to a refused address (SSRF guard)
    │   ├── ConnectFailed     11205      no connection (refused, DNS, connect timeout)
    │   ├── FetchTimeout      11205      the response did not complete in time
    │   ├── BadStatus         11200      the server answered with a non-2xx status
    │   ├── BodyTooLarge      11750      more than the size cap
    │   ├── BadContentType    12300      not text/xml or application/xml (or not audio)
    │   └── TooManyRedirects  11215
    ├── DocumentError         12100      the XML is malformed, has a DOCTYPE, or a bad verb
    └── SpeechError           13520      text could not be rendered to speech (TTS failed)
"""

from __future__ import annotations


class EngineError(Exception):
    code = 0


class FetchError(EngineError):
    code = 11200

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class BlockedURL(FetchError):
    code = 11210


class ConnectFailed(FetchError):
    code = 11205


class FetchTimeout(FetchError):
    code = 11205


class BadStatus(FetchError):
    code = 11200

    def __init__(self, message: str, url: str = "", status: int = 0) -> None:
        super().__init__(message, url)
        self.status = status


class BodyTooLarge(FetchError):
    code = 11750


class BadContentType(FetchError):
    code = 12300


class TooManyRedirects(FetchError):
    code = 11215


class DocumentError(EngineError):
    code = 12100


class SpeechError(EngineError):
    code = 13520
