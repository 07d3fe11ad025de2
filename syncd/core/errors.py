"""The one exception tree of syncd, named by what the caller should do.

    SyncdError
    ├── ConfigError              fix the configuration file / environment (exit 2)
    ├── WarehouseError           PostgreSQL is unreachable or refused a statement
    ├── SourceBusy               another syncd leads this source right now
    ├── RegistrationFailed       `syncd register` stored nothing (exit 1)
    └── ApiError                 the API answered (or failed to); carries request_id
        ├── RetriableError       try again after a backoff: 5xx, transport, broken body
        │   ├── RateLimited      429: pause the whole source, then try again
        │   ├── Unreachable      no connection at all: the window's size is not the cause
        │   └── AnswerLost       a write that must not be repeated got no usable answer
        ├── RetriesExhausted     a retriable error that outlived the retry budget
        ├── WindowTooLarge       a window failed twice: read it in smaller pieces
        ├── AnswerTooLarge       over max_answer_mb: refused unread (a window is split)
        ├── RequestRejected      400: our request is wrong; retrying cannot help
        ├── ModuleForbidden      403: stop this module (permission, mode, HTTPS)
        ├── SourceUnauthorized   401: stop every module of the source (credentials)
        └── EndpointMisconfigured 404/405: base_url or endpoint is wrong in the config

aiohttp exceptions are translated in exactly one place (``engine/http.py``), asyncpg's in
exactly one place (``warehouse/db.py``).
Every ``str()`` is one plain sentence that says what to fix; none contains a secret.
"""

from __future__ import annotations

from typing import Any


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """The configuration is invalid; the message names the file and the key."""


class WarehouseError(SyncdError):
    """The warehouse cannot be reached or refused a statement."""


class SourceBusy(SyncdError):
    """Another syncd (a running daemon) holds this source's leader lock."""


class RegistrationFailed(SyncdError):
    """``syncd register`` got no usable credentials; ``answer`` is the server's answer line."""

    def __init__(self, sentence: str, *, answer: str | None = None) -> None:
        super().__init__(sentence)
        self.answer = answer


class ApiError(SyncdError):
    """The API did not give us data; ``message`` is the server's own words."""

    def __init__(
        self,
        sentence: str,
        *,
        status: int | None = None,
        message: str | None = None,
        request_id: str | None = None,
        module: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(sentence)
        self.status = status
        self.message = message
        self.request_id = request_id
        self.module = module
        self.retry_after = retry_after


class RetriableError(ApiError):
    """A transient failure: 5xx, a dropped connection, a truncated or non-JSON body."""


class RateLimited(RetriableError):
    """429 Rate limit exceeded: another client may share our key or IP."""


class Unreachable(RetriableError):
    """The server could not be reached (connection refused, DNS): retried, never split."""


class AnswerLost(RetriableError):
    """A write went out and no usable answer came back: the server may have done it, so it
    is looked for at the source before it is ever sent again."""


def says_nothing_of_size(exc: BaseException | None) -> bool:
    """Whether a failure cannot have been caused by the window's size: a rate limit or an
    unreachable server (a smaller window would fail the same way)."""
    return isinstance(exc, RateLimited | Unreachable)


class WindowTooLarge(ApiError):
    """A window of more than one day failed twice (500s, timeouts, broken bodies): read it
    in smaller pieces (``splits.py``). ``requests`` is what the failed tries cost."""

    def __init__(self, sentence: str, *, requests: int, **kw: Any) -> None:
        super().__init__(sentence, **kw)
        self.requests = requests


class AnswerTooLarge(ApiError):
    """An answer larger than ``max_answer_mb`` (announced or read so far): never buffered."""


class RetriesExhausted(ApiError):
    """A transient failure that kept happening until the retry budget ran out."""


class RequestRejected(ApiError):
    """400: the server will give the same answer to the same request; do not retry."""


class ModuleForbidden(ApiError):
    """403: credentials are fine but this module is refused (permission, mode, HTTPS)."""


class SourceUnauthorized(ApiError):
    """401: the credentials were refused; nothing of this source can be read."""


class EndpointMisconfigured(ApiError):
    """404/405: the URL does not lead to a SKYBIZ module endpoint."""
