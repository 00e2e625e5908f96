"""The one exception tree of veolab.

Every error veolab raises on purpose is a :class:`VeolabError`. Foreign errors (httpx, PyAV,
OpenCV, MLflow, pydantic, Jinja) are converted at the boundary into the most specific class
below, chained with ``from exc``. Each class carries the CLI exit code it maps to::

    VeolabError                      (exit 1)
    ├── ConfigError                  (exit 2) bad input or configuration
    │   ├── RequestError             a VideoRequest parameter or Veo rule
    │   ├── ImageReferenceError      an image reference that cannot be used
    │   ├── ExperimentError          an experiment file that does not validate
    │   │   └── UnsupportedCellsError    grid cells their host cannot make (a line each)
    │   ├── TemplateError            a prompt template that does not render
    │   ├── MissingKeyError          no API key where a provider needs one
    │   ├── UnknownProviderError     a provider name nobody registered
    │   ├── StoreNotFoundError       a command reads an MLflow store that does not exist
    │   └── VoteError                a review vote or pair request refused (HTTP 4xx)
    ├── AnalysisError                (exit 2) a file that cannot be analysed as a video
    ├── ProviderError                (exit 3) the provider or the network failed
    │   ├── ProviderConnectionError  the request never got an answer
    │   ├── ProviderHTTPError        the host answered with an error status
    │   │   ├── BadRequestError          400
    │   │   ├── AuthenticationError      401
    │   │   ├── PermissionDeniedError    403
    │   │   ├── ModelNotFoundError       404
    │   │   ├── InsufficientCreditsError 402 / 406
    │   │   ├── ValidationRejectedError  422
    │   │   ├── RateLimitError           429
    │   │   └── ServerError              5xx
    │   ├── InvalidOutputError       what came back is not an MP4
    │   ├── GenerationFailedError    the host reports the job FAILED
    │   │   └── FilteredError        the host's safety system filtered the output out
    │   ├── OutputNotObtainedError   billed, but the output could not be obtained (kept by job id)
    │   └── OutcomeUnknownError      a submit was sent but its answer lost: it may be billed
    ├── TrackingError                (exit 3) MLflow could not be reached or written
    ├── BudgetExceededError          (exit 1) the next run would overshoot the budget
    └── AbortedError                 (exit 1) the user declined or interrupted
        └── SpendNotConfirmedError   a paid run above confirm_above, not confirmed

Messages are one line, say what is wrong and how to fix it, and never contain an API key
(UnsupportedCellsError adds one line per cell it names).
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PROVIDER = 3


class VeolabError(Exception):
    """Base of every error veolab raises on purpose."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(VeolabError):
    """Bad input or configuration: fix the named flag, file or field and try again."""

    exit_code = EXIT_BAD_INPUT


class RequestError(ConfigError):
    """A VideoRequest parameter is out of range or breaks a Veo 3.1 rule."""


class ImageReferenceError(ConfigError):
    """An image reference is not a URL, a data URI or a readable image file."""


class ExperimentError(ConfigError):
    """An experiment file does not validate."""


class UnsupportedCellsError(ExperimentError):
    """Grid cells their host cannot make: a line saying so, then one line per cell."""

    def __init__(self, message: str, cells: list[str]) -> None:
        lines = [" ".join(str(message).split())] + ["  " + " ".join(c.split()) for c in cells]
        Exception.__init__(self, "\n".join(lines))
        self.cells = cells


class TemplateError(ConfigError):
    """A prompt template cannot be found or rendered."""


class MissingKeyError(ConfigError):
    """A provider needs an API key and none was given."""


class UnknownProviderError(ConfigError):
    """No provider is registered under the requested name."""


class StoreNotFoundError(ConfigError):
    """A command that only reads MLflow was pointed at a local store that does not exist (a read
    never creates one)."""

    def __init__(self, uri: str) -> None:
        super().__init__(
            f"no MLflow store at {uri} (run veolab run first, or set MLFLOW_TRACKING_URI or "
            "--tracking-uri to your store)"
        )
        self.uri = uri


class VoteError(ConfigError):
    """A vote or a pair request the review server refuses (unknown pair, bad choice, a name or
    note too long); ``status`` is its HTTP status (400, 404 or 409). Nothing was stored."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class AnalysisError(VeolabError):
    """A file cannot be analysed as a video (not a video, truncated, undecodable)."""

    exit_code = EXIT_BAD_INPUT


class ProviderError(VeolabError):
    """The provider or the network failed."""

    exit_code = EXIT_PROVIDER

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class ProviderConnectionError(ProviderError):
    """The request never got an answer (refused, reset, DNS, connect timeout)."""


class ProviderHTTPError(ProviderError):
    """The host answered with an error status."""

    status_code: int = 0

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after


class BadRequestError(ProviderHTTPError):
    """400: the host rejected the request's parameters."""

    status_code = 400


class AuthenticationError(ProviderHTTPError):
    """401: the API key is missing or invalid."""

    status_code = 401


class PermissionDeniedError(ProviderHTTPError):
    """403: the key may not use this model."""

    status_code = 403


class ModelNotFoundError(ProviderHTTPError):
    """404: the host does not know the model."""

    status_code = 404


class InsufficientCreditsError(ProviderHTTPError):
    """402 / 406: the account has not enough credits."""

    status_code = 406


class ValidationRejectedError(ProviderHTTPError):
    """422: the host's validation rejected a parameter."""

    status_code = 422


class RateLimitError(ProviderHTTPError):
    """429: too many requests; wait for the reset."""

    status_code = 429


class ServerError(ProviderHTTPError):
    """5xx: the host failed (500, 502 bad gateway, 503, 504 timeout)."""

    status_code = 500


class InvalidOutputError(ProviderError):
    """What came back is not an MP4 video (HTML page, truncated body, too large)."""


class GenerationFailedError(ProviderError):
    """The host accepted the job and then reported it FAILED."""


class FilteredError(GenerationFailedError):
    """The host's safety system filtered the output out (``reasons``: the host's own words);
    nothing to download and, like any failed job, not billed: change the prompt or images."""

    def __init__(
        self, message: str, *, request_id: str | None = None, reasons: list[str] | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.reasons = list(reasons or [])


class OutputNotObtainedError(ProviderError):
    """The host accepted (and billed) the job, but its output could not be obtained.

    An expired or refused download URL, a result without output, an HTML or corrupt body: the
    spend counts, and ``request_id`` (when the host named the job) lets a later run fetch the
    output again instead of paying twice.
    """


class OutcomeUnknownError(ProviderError):
    """A submit was sent but its answer was lost: the job may exist and may be billed.

    Never resubmit blindly. ``request_id`` is set when the host's id is known, so polling can
    resume; ``details`` carries whatever else is known.
    """

    def __init__(
        self, message: str, *, request_id: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.details = dict(details or {})


class TrackingError(VeolabError):
    """MLflow could not be reached or written."""

    exit_code = EXIT_PROVIDER


class BudgetExceededError(VeolabError):
    """The next paid run would overshoot the budget."""

    exit_code = EXIT_FAILED


class AbortedError(VeolabError):
    """The user declined the confirmation or interrupted the work."""

    exit_code = EXIT_FAILED


class SpendNotConfirmedError(AbortedError):
    """A paid run's estimated spend is above ``confirm_above`` and nobody confirmed it.

    ``estimated_spend`` and ``confirm_above`` (USD) say how far; the library never prompts:
    pass ``yes=True`` (``RunOptions``) to spend it.
    """

    def __init__(self, message: str, *, estimated_spend: float, confirm_above: float) -> None:
        super().__init__(message)
        self.estimated_spend = estimated_spend
        self.confirm_above = confirm_above
