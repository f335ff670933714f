"""Test-control routes under /_emulator/ (no authentication; the server listens on loopback
only): health, fault rules, job behaviour, the authenticator's clock and token lifetime, and
request statistics, and the limits IMS enforces (quota, tags per image)."""

import threading
from collections import Counter

from .errors import ImsError
from .faults import RuleError


class Stats:
    """Request counts per "METHOD /route/{template}"."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts = Counter()

    def count(self, method, template):
        with self._lock:
            self._counts["%s %s" % (method, template)] += 1

    def snapshot(self):
        with self._lock:
            return dict(self._counts)

    def clear(self):
        with self._lock:
            self._counts.clear()


def _number(body, key):
    value = body.get(key) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("body must be {\"%s\": <number>}" % key)
    return value


def handle(ctx):
    """Serves one /_emulator/ request; False when the path is not an admin route."""
    app, route = ctx.app, (ctx.method, ctx.path[len("/_emulator"):])
    try:
        if route == ("GET", "/health"):
            ctx.send_json(200, {"status": "ok", "glance": app.glance.url, "url": app.public_url,
                                "regions": app.urls, "obs": app.obs_url})
        elif route == ("GET", "/faults"):
            ctx.send_json(200, {"faults": app.faults.list()})
        elif route == ("POST", "/faults"):
            ctx.send_json(201, app.faults.add(ctx.json()))
        elif route == ("DELETE", "/faults"):
            app.faults.clear()
            ctx.send_json(200, {"faults": []})
        elif route == ("GET", "/jobs"):
            ctx.send_json(200, dict(app.jobs.settings(), jobs=app.jobs.all()))
        elif route == ("POST", "/jobs"):
            body = ctx.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            ctx.send_json(200, app.jobs.configure(body))
        elif route == ("GET", "/limits"):
            ctx.send_json(200, app.limits.settings())
        elif route == ("POST", "/limits"):
            body = ctx.json()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            ctx.send_json(200, app.limits.configure(body))
        elif route == ("POST", "/clock"):
            offset = _number(ctx.json(), "offset")
            app.auth.set_clock_offset(offset)
            ctx.send_json(200, {"offset": offset})
        elif route == ("POST", "/tokens"):
            lifetime = _number(ctx.json(), "lifetime")
            app.auth.set_token_lifetime(lifetime)
            ctx.send_json(200, {"lifetime": lifetime})
        elif route == ("GET", "/stats"):
            ctx.send_json(200, app.stats.snapshot())
        elif route == ("DELETE", "/stats"):
            app.stats.clear()
            ctx.send_json(200, {})
        else:
            return False
    except (RuleError, ValueError, ImsError) as e:
        ctx.send_json(400, {"error": str(e.message if isinstance(e, ImsError) else e)})
    return True
