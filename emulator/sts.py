"""IAM temporary access keys: POST /v3.0/OS-CREDENTIAL/securitytokens with an IAM token
(X-Auth-Token) and the body {"auth": {"identity": {"methods": ["token"], "token":
{"duration_seconds": 900}}}} (900-86400, default 900) -> 201 {"credential": {"access",
"secret", "securitytoken", "expires_at"}}. The key works for OBS (with its token in
x-obs-security-token / x-amz-security-token) and for IMS AK/SK calls (X-Security-Token)
until it expires."""

from .auth import _iso

MAX_BODY = 64 * 1024
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 900, 86400, 900


def _error(ctx, status, message):
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
    ctx.send_json(status, {"error": {"code": status, "title": titles[status], "message": message}})


def issue(ctx):
    if ctx.ident.method != "token":
        _error(ctx, 403, "Temporary access keys are issued for an IAM token (X-Auth-Token), "
                         "not for an AK/SK-signed request.")
        return
    body = ctx.json()
    try:
        identity = body["auth"]["identity"]
        methods = identity["methods"]
        if not isinstance(methods, list) or "token" not in methods:
            raise TypeError
        token = identity.get("token") or {}
        if not isinstance(token, dict):
            raise TypeError
    except (KeyError, TypeError):
        _error(ctx, 400, "Expecting {\"auth\": {\"identity\": {\"methods\": [\"token\"], "
                         "\"token\": {\"duration_seconds\": N}}}}.")
        return
    duration = token.get("duration_seconds", DEFAULT_DURATION)
    if isinstance(duration, str) and duration.isdigit():
        duration = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or not MIN_DURATION <= duration <= MAX_DURATION:
        _error(ctx, 400, "duration_seconds must be an integer in %d..%d."
               % (MIN_DURATION, MAX_DURATION))
        return
    record = ctx.app.auth.issue_temporary(ctx.ident, duration)
    ctx.send_json(201, {"credential": {"access": record["ak"], "secret": record["sk"],
                                       "securitytoken": record["security_token"],
                                       "expires_at": _iso(record["expires"])}})
