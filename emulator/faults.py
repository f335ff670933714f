"""Fault rules switched on while the emulator runs (POST /_emulator/faults). A rule matches a
request by a regex searched in its path (on the OBS listener also in `path?query`) and an
optional method, and fires `count` times."""

import itertools
import re
import threading

KINDS = ("status", "throttle", "reset", "delay", "truncate")


class RuleError(ValueError):
    pass


def _number(spec, key, default, minimum=0, integer=False):
    value = spec.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum \
            or (integer and value != int(value)):
        raise RuleError("%s must be %s >= %s"
                        % (key, "an integer" if integer else "a number", minimum))
    return int(value) if integer else float(value)


class Rule:
    def __init__(self, rule_id, spec):
        if not isinstance(spec, dict):
            raise RuleError("a rule is a JSON object")
        unknown = set(spec) - {"route", "method", "kind", "status", "count", "retry_after",
                               "delay", "after_bytes", "code", "message"}
        if unknown:
            raise RuleError("unknown field(s): %s" % ", ".join(sorted(unknown)))
        self.id = rule_id
        self.route = spec.get("route") or ""
        try:
            self.pattern = re.compile(self.route)
        except (re.error, TypeError) as e:
            raise RuleError("route is not a regex: %s" % e) from None
        self.method = spec.get("method")
        if self.method is not None and not isinstance(self.method, str):
            raise RuleError("method must be a string or null")
        self.kind = spec.get("kind")
        if self.kind not in KINDS:
            raise RuleError("kind must be one of %s" % ", ".join(KINDS))
        self.status = _number(spec, "status", 500, 400, integer=True)
        if self.kind == "status" and self.status > 599:
            raise RuleError("status must be 400..599")
        self.count = _number(spec, "count", 1, 1, integer=True)
        self.retry_after = _number(spec, "retry_after", 1, 0, integer=True)
        self.delay = _number(spec, "delay", 1.0)
        self.after_bytes = _number(spec, "after_bytes", 0, 0, integer=True)
        self.code = spec.get("code")
        self.message = spec.get("message")
        self.fired = 0

    def matches(self, method, path, query=None):
        if self.method is not None and self.method.upper() != method:
            return False
        return self.pattern.search(path) is not None or \
            (bool(query) and self.pattern.search(path + "?" + query) is not None)

    def view(self):
        return {"id": self.id, "route": self.route, "method": self.method, "kind": self.kind,
                "status": self.status, "count": self.count, "fired": self.fired,
                "retry_after": self.retry_after, "delay": self.delay,
                "after_bytes": self.after_bytes, "code": self.code, "message": self.message}


class Faults:
    """The rule list. take() hands out the first matching rule and uses one of its firings;
    a rule is dropped once it has fired `count` times."""

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._ids = itertools.count(1)

    def add(self, spec):
        with self._lock:
            rule = Rule(next(self._ids), spec)
            self._rules.append(rule)
            return rule.view()

    def list(self):
        with self._lock:
            return [r.view() for r in self._rules]

    def clear(self):
        with self._lock:
            self._rules = []

    def take(self, method, path, query=None):
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path, query):
                    rule.fired += 1
                    if rule.fired >= rule.count:
                        self._rules.remove(rule)
                    return rule
        return None
