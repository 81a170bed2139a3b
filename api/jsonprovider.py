"""Responses serialised by orjson: a page of 20 call records costs about a tenth of what
the standard library's encoder takes, on every list request (bench/api.py).

Anything orjson refuses (an integer past 64 bits, an object only Flask's encoder knows)
goes through Flask's default encoder instead, so no answer fails for being fast.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

OPTIONS = orjson.OPT_NON_STR_KEYS


class OrjsonProvider(DefaultJSONProvider):
    sort_keys = False  # keys in the order resources are written

    def _encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, option=OPTIONS)
        except TypeError:
            return super().dumps(obj).encode()

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return super().dumps(obj, **kwargs) if kwargs else self._encode(obj).decode()

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self._encode(obj), mimetype=self.mimetype)
