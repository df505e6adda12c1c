"""What the four vendor clients share: the error type, read-only refusal, idempotency keys, retries."""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import ssl
import time
import uuid
from typing import Any

import httpx

from tui.text import mask_secret, sanitize

# A stream's read timeout must outlast the server's keepalive interval (15 s in the simulator and the
# vendors' usual value), or a quiet but healthy stream would be torn down; and it is how a hung server (a stopped
# process, a partition) is noticed on a stream, so it stays well under 30 s.
STREAM_READ_TIMEOUT = 25.0
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class ApiError(Exception):
    """Any failure talking to a vendor: HTTP status, the vendor's code, its message, a docs link."""

    def __init__(
        self,
        service: str,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
        docs: str | None = None,
        retry_after: float | None = None,
    ):
        self.service = service
        self.status = status
        # Every part comes from the server and ends up on screen: all of it sanitized.
        self.code = None if code is None else sanitize(code, single_line=True)
        self.message = sanitize(message, single_line=True)
        self.docs = None if docs is None else sanitize(docs, single_line=True)
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status else "network"
        code = f" {self.code}" if self.code else ""
        return f"{self.service}: {where}{code}: {self.message}"


class ReadOnlyError(ApiError):
    """A mutating call refused because capwatch runs read-only; nothing was sent."""

    def __init__(self, service: str, operation: str):
        super().__init__(service, None, f"{operation} refused: capwatch is in read-only mode", code="read_only")


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def retry_after_seconds(response: httpx.Response, default: float = 1.0) -> float:
    """Seconds to wait after a 429/503: `Retry-After` (seconds or HTTP date), else `X-RateLimit-Reset`."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(header)
            except (ValueError, TypeError):  # neither seconds nor an HTTP date: the fallbacks below
                parsed = None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            pass
    return default


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply for the parser
        return None


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client, as httpx would make it: loading the CA store takes ~50 ms, four
    times over at start-up when each client made its own."""
    return httpx.create_ssl_context()


class BaseClient:
    """An httpx.AsyncClient plus the rules every vendor client follows.

    - `read_only`: every mutating method calls `self.guard(...)` first, which raises ReadOnlyError.
    - Mutations carry an Idempotency-Key that is reused for every retry of the same call.
    - `send()` retries 429/500/502/503/504 and connection errors a bounded number of times (`max_retries`),
      waiting for Retry-After when the reply has one, else a jittered exponential delay; it retries a
      mutation only when it carries an Idempotency-Key.
    - `requests_sent` counts every request put on the wire (retries included): `status` says what it spent.
    - `retry_throttled`: a 429 is waited out (its Retry-After) and tried again within the call; False: it is the
      call's answer at once (`capwatch status` says it rather than wait within a call past its --wait).
    """

    service = ""
    max_retries = 3
    retry_throttled = True
    RETRIED_STATUSES = frozenset((429, 500, 502, 503, 504))
    rng = random.Random()

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        read_only: bool = False,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        api_key: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self.read_only = read_only
        self._api_key = api_key  # a credential: its repr shows the last four characters only
        self.requests_sent = 0
        # Whether the server is answering: requests on the wire now, and when the last one ended (monotonic). A
        # poll waiting on a rate governor is not a server that stopped answering.
        self.in_flight = 0
        self.last_answer = 0.0
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"User-Agent": "capwatch", **(headers or {})},
            timeout=timeout,
            transport=transport,
            verify=shared_ssl_context(),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def __repr__(self) -> str:
        """`CapxClient(base_url='...', api_key='••••demo')`: the key masked, then what `described` adds."""
        fields = {"base_url": self.base_url, "api_key": mask_secret(self._api_key), **self.described()}
        return f"{type(self).__name__}({', '.join(f'{name}={value!r}' for name, value in fields.items())})"

    def described(self) -> dict[str, Any]:
        """What the client's repr says besides its URL and masked key (never a secret)."""
        return {}

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def guard(self, operation: str) -> None:
        if self.read_only:
            raise ReadOnlyError(self.service, operation)

    def error_from(self, response: httpx.Response) -> ApiError:
        """Build an ApiError from a failed reply; each vendor overrides to read its own error format."""
        return ApiError(self.service, response.status_code, response.reason_phrase or "request failed")

    async def send(self, method: str, url: str, *, idempotent: bool | None = None, **kwargs: Any) -> httpx.Response:
        """Send with bounded retries; raise ApiError for any non-2xx reply or transport failure."""
        if idempotent is None:
            headers = kwargs.get("headers") or {}
            idempotent = method in ("GET", "HEAD") or "Idempotency-Key" in headers
        attempt = 0
        while True:
            self.requests_sent += 1
            self.in_flight += 1
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as error:
                failure: httpx.TransportError | None = error
            else:
                failure = None
            finally:
                self.in_flight -= 1
                self.last_answer = time.monotonic()
            if failure is not None:
                if not idempotent or attempt >= self.max_retries:
                    raise ApiError(self.service, None, f"{type(failure).__name__}: {failure}") from failure
                await asyncio.sleep(self.retry_delay(attempt))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if response.status_code in self.RETRIED_STATUSES and idempotent and attempt < self.max_retries and \
                    (self.retry_throttled or response.status_code != 429):
                await asyncio.sleep(min(self.wait_before_retry(response, attempt), 30.0))
                attempt += 1
                continue
            error = self.error_from(response)
            if response.status_code == 429:
                error.retry_after = retry_after_seconds(response)
            raise error

    def wait_before_retry(self, response: httpx.Response, attempt: int) -> float:
        """What the reply asks (Retry-After; on a 429 or 503 also X-RateLimit-Reset), else `retry_delay`. A 500's
        X-RateLimit-Reset (Capx sends it on every reply) says nothing about when to come back."""
        if response.status_code in (429, 503):
            return retry_after_seconds(response, default=self.retry_delay(attempt))
        if "retry-after" in response.headers:
            return retry_after_seconds(response, default=self.retry_delay(attempt))
        return self.retry_delay(attempt)

    def retry_delay(self, attempt: int) -> float:
        """Before retry `attempt` + 1: "equal jitter" over 0.5, 1, 2, 4 s (capped), so that many clients failing
        together do not come back in step."""
        ceiling = min(0.5 * 2**attempt, 4.0)
        return self.rng.uniform(ceiling / 2, ceiling)
