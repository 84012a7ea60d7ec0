"""What every identification service looks like to the engine.

A provider builds its request, sends it with the run's one HTTP client, and turns the answer
into the normalised fields of a record — or raises a classified error from `errors`. The guards
(cache, lock, breaker, rate limit) sit outside it, in the engine, so a provider never knows them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from plantid_cli.constants import MAX_RESPONSE_BYTES
from plantid_cli.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    CreditsExhausted,
    PlantidError,
    RequestRejected,
    ServiceUnavailable,
    UpstreamTimeout,
)
from plantid_cli.redact import redact

if TYPE_CHECKING:
    import threading

    import httpx

    from plantid_cli.images.prepare import PreparedImage
    from plantid_cli.records import IsPlant, Suggestion


@dataclass(frozen=True, slots=True)
class IdentifyRequest:
    """The request parameters that can change an answer (and therefore the cache key)."""

    language: str = "en"
    details: tuple[str, ...] = ()
    similar_images: bool = False
    latitude: float | None = None  # an explicit --lat/--lon position
    longitude: float | None = None
    no_location: bool = False
    organs: tuple[str, ...] = ("auto",)
    project: str = "all"
    nb_results: int = 10  # Pl@ntNet `nb-results`: the run's --top
    related_images: bool = False  # Pl@ntNet `include-related-images`
    classification_level: str = "species"  # Plant.id's body `classification_level`
    custom_id: int | None = None  # Plant.id's body `custom_id` (`--custom-id`, one photo)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        """`language` as the list it is ("en,de" -> ("en", "de")), English when empty."""
        return tuple(part.strip() for part in self.language.split(",") if part.strip()) or ("en",)

    def location_mode(self) -> str:
        """How the position is chosen: EXIF positions are a function of the file's bytes, so
        the sha256 already covers them and the cache lookup needs no image decoding."""
        if self.no_location:
            return "none"
        if self.latitude is not None and self.longitude is not None:
            return f"option:{self.latitude:.6f},{self.longitude:.6f}"
        return "exif"


@dataclass(slots=True)
class Answer:
    """A provider's normalised answer, before the engine adds path, sha256 and cache flags."""

    status: str  # "ok" | "not_plant"
    best: Suggestion | None
    suggestions: list[Suggestion]
    is_plant: IsPlant | None
    model_version: str | None
    extra: dict[str, Any] = field(default_factory=dict)  # provider specifics (access_token, ...)
    remaining: int | None = None  # credits / quota left, when the service says
    #: Pl@ntNet's daily quota from its RateLimit headers: {"limit", "remaining", "resets_in"}
    quota: dict[str, Any] | None = None


class Provider(Protocol):
    name: str
    api_version: str
    api_key: str

    def cache_params(self, request: IdentifyRequest) -> dict[str, Any]: ...

    def identify(
        self,
        client: httpx.Client,
        images: list[PreparedImage],
        request: IdentifyRequest,
        position: tuple[float, float] | None,
        taken_at: str | None,
    ) -> Answer: ...


def endpoint_param(api_url: str, default_url: str) -> dict[str, str]:
    """Cache parameter for a non-default endpoint: a sandbox or a proxy answers differently
    from the real service, so its answers must never be served to a run against the real one
    (README: "Rehearse a pipeline"). Empty for the default URL, whose keys stay as they were."""
    url = api_url.rstrip("/")
    return {} if url == default_url.rstrip("/") else {"endpoint": url}


def classify_http_error(
    provider: str, status: int, body: str, retry_after: str | None
) -> Exception:
    """Map an HTTP failure to the tool's error tree; the body is redacted (it may echo the key)."""
    text = redact(" ".join(body.split()))[:300] or f"HTTP {status}"
    if status in (401, 403):
        return AuthError(f"{provider} rejected the API key (HTTP {status}): {text}")
    if status == 429:
        if provider == "plantnet":  # a daily quota, reset at 00:00 UTC
            return CreditsExhausted(f"plantnet: daily quota used up — see plantid status ({text})")
        return CreditsExhausted(f"{provider}: credits exhausted — see plantid usage ({text})")
    if status == 404:
        return ConfigError(f"{provider}: HTTP 404 ({text}); check the API URL setting")
    if status >= 500:
        error = ServiceUnavailable(
            f"{provider}: HTTP {status} from the service", reason=f"http-{status}"
        )
        error.retry_after = parse_retry_after(retry_after)  # type: ignore[attr-defined]
        return error
    return RequestRejected(f"{provider} refused the request (HTTP {status}): {text}")


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        import time
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def send(
    client: httpx.Client, provider: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One HTTP exchange with transport failures classified (timeouts, refused, reset).

    Every POST this tool sends is an identification, which the service charges once it has
    answered 2xx: a 2xx POST whose body cannot be read whole is an UnusableAnswer, never retried
    (providers/exchange.py). `charged=True` says the same of a GET the service bills (a
    knowledge-base entry)."""
    import httpx

    charged = kwargs.pop("charged", method == "POST")
    charged_by = provider if charged else None
    stop = kwargs.pop("stop", None)  # a free request's: see exchange()
    try:
        response = _exchange(client, method, url, kwargs, charged_by, stop)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"{provider}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise ServiceUnavailable(
            f"{provider}: connection failed ({type(exc).__name__}: {redact(exc)})",
            reason="connection",
        ) from None
    except PlantidError:
        raise  # already classified (an oversized answer)
    except Exception as exc:
        # Any other httpx error (InvalidURL, DecodingError, ...) may quote the URL, and with
        # Pl@ntNet the URL holds the key: never let its text out unredacted.
        raise PlantidError(
            f"{provider}: request failed ({type(exc).__name__}: {redact(exc)})"
        ) from None
    if response.status_code >= 300:
        error = classify_http_error(
            provider, response.status_code, response.text, response.headers.get("Retry-After")
        )
        # a refusal may still be an answer (Pl@ntNet's charged "Species not found" 404), whose
        # quota headers the provider reads
        error.headers = response.headers  # type: ignore[attr-defined]
        raise error
    return response


def _exchange(
    client: httpx.Client,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    charged_by: str | None,
    stop: threading.Event | None = None,
) -> httpx.Response:
    """Send and read the whole answer within one total deadline (the client's read timeout),
    abandoned over MAX_RESPONSE_BYTES decoded: see providers/exchange.py for why and how."""
    # lazy: the exchange (socket, selectors) is paid by a run that sends, not by one answered
    # from the cache or refused by an open breaker
    from plantid_cli.providers.exchange import exchange

    return exchange(
        client, method, url, kwargs, MAX_RESPONSE_BYTES, charged_by=charged_by, stop=stop
    )


def json_body(provider: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BadResponse(f"{provider}: the service answered with invalid JSON") from None
