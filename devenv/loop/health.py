"""The health gate: the release's ping path first, then healthz.

While a container starts, its published port accepts and then resets
connections; every ``httpx.TransportError`` therefore means "not ready yet".
One ``httpx.Client`` is reused (about 1.4 ms a request against 30 ms for a
fresh ``httpx.get``). httpx is imported when a :class:`Health` is made.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..core.release import HealthPaths


@dataclass(frozen=True)
class HealthResult:
    ok: bool
    url: str
    status: int | None = None
    detail: str = ""  # "connection refused", "db: nok, redis: ok", ...
    body: str = ""

    def describe(self) -> str:
        code = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.url}: {code}" + (f" ({self.detail})" if self.detail else "")


class Health:
    """Health checks against one RAGFlow API base URL.

    >>> Health("http://127.0.0.1:9380", HealthPaths("/v1/system/ping", None)).ping_url
    'http://127.0.0.1:9380/v1/system/ping'
    """

    def __init__(self, base_url: str, paths: HealthPaths, timeout: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.paths = paths
        self._timeout = timeout
        self._client: Any = None

    @property
    def ping_url(self) -> str:
        return self.base_url + (self.paths.ping or "/")

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            # trust_env=False: a proxy from the environment must never see local health checks
            self._client = httpx.Client(timeout=self._timeout, trust_env=False)
        return self._client

    def get(self, url: str) -> HealthResult:
        import httpx

        try:
            r = self._http().get(url)
        except httpx.TransportError as e:
            return HealthResult(False, url, None, _transport_detail(e))
        return HealthResult(r.is_success, url, r.status_code, "", r.text[:2000])

    def ping(self) -> HealthResult:
        """The server process answers. Releases without a ping path: any HTTP answer counts."""
        result = self.get(self.ping_url)
        if self.paths.ping is None and result.status is not None:
            return HealthResult(True, result.url, result.status, "answers HTTP (this release has no ping endpoint)")
        return result

    def healthz(self) -> HealthResult | None:
        """MySQL, Redis, the doc engine and storage, as the server sees them; None if the release has none."""
        if not self.paths.healthz:
            return None
        result = self.get(self.base_url + self.paths.healthz)
        if result.status is not None and result.body.startswith("{"):
            result = HealthResult(result.ok, result.url, result.status, _components(result.body), result.body)
        return result

    def wait_ping(
        self, deadline: float, stop: threading.Event | None = None, interval: float = 0.05,
        alive: Callable[[], str | None] | None = None,
    ) -> HealthResult:
        """Poll ping until it answers OK, the deadline passes, ``stop`` is set, or ``alive()`` reports a problem.

        ``alive`` returns None while waiting makes sense, or a reason to give up
        (for instance "the container exited").
        """
        last = HealthResult(False, self.ping_url, None, "not tried")
        while True:
            last = self.ping()
            if last.ok:
                return last
            if alive is not None:
                reason = alive()
                if reason:
                    return HealthResult(False, last.url, last.status, reason)
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return last
            if stop is not None:
                stop.wait(interval)
            else:
                time.sleep(interval)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _transport_detail(e: Exception) -> str:
    text = str(e) or type(e).__name__
    if "Connection refused" in text or "ConnectError" in type(e).__name__:
        return "connection refused"
    if "reset" in text.lower():
        return "connection reset"
    return text.splitlines()[0][:120]


def _components(body: str) -> str:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    parts = [f"{k}: {v}" for k, v in data.items() if k != "status" and isinstance(v, (str, bool))]
    return ", ".join(parts)
