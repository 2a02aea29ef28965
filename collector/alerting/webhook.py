"""Webhook calls: a JSON POST; any 2xx answer is a delivery, anything else is retried later."""
from __future__ import annotations

import urllib.error
import urllib.request


class WebhookError(Exception):
    pass


def post(hook_cfg, body: bytes) -> int:
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "hailong-collector"}
    if hook_cfg.token is not None:
        headers["Authorization"] = f"Bearer {hook_cfg.token.resolve()}"
    req = urllib.request.Request(hook_cfg.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=hook_cfg.timeout_s) as resp:
            resp.read(65536)
            return resp.status
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook {hook_cfg.name} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WebhookError(f"webhook {hook_cfg.name} unreachable: {getattr(exc, 'reason', exc)}") from None
