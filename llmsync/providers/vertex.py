"""Google Vertex AI: Gemini (``vertex``) and Claude (``vertex-anthropic``) on a Google Cloud
project, with the project's credentials instead of an API key.

Both speak their family's wire format; only the URL, a few body fields and auth differ:

- ``vertex``: ``{base}/publishers/google/models/{model}:generateContent`` and
  ``:streamGenerateContent?alt=sse`` (REST reference
  cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.publishers.models).
- ``vertex-anthropic``: ``{base}/publishers/anthropic/models/{model}:rawPredict`` and
  ``:streamRawPredict``; "model is not passed in the request body" and
  "anthropic_version is passed in the request body (rather than as a header), and must be
  set to the value vertex-2023-10-16" (docs.claude.com, Claude on Vertex AI;
  anthropic-sdk-python ``lib/vertex/_client.py``).

``{base}`` is ``https://{host}/v1/projects/{project}/locations/{location}``. Credentials: an
explicit key (``api_keys["vertex"]``) is an OAuth access token; else google-auth's
application-default credentials (extra ``llmsync[vertex]``, imported only here, on first use),
with their quota project in ``x-goog-user-project``; else, for Gemini, an express mode API key
on the global endpoint, taken from the environment exactly when google-genai takes one.
"""
import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..auth import ApiKey, AuthStore
from ..errors import InvalidRequestError
from ..events import Event
from ..options import Request
from .anthropic import AnthropicProvider
from .base import ErrorInfo, Provider, WirePlan
from .gemini import GeminiParser, GeminiProvider
from .reasoning import Reasoning
from .vertex_auth import (EXPRESS_BASE_URL, LOCATION_ENV, PROJECT_ENV, QUOTA_PROJECT_HEADER, USE_VERTEXAI_ENV,
                          PROJECT_ID, ExpressModeKey, application_default_tokens,
                          express_key_env, has_google_auth, quota_project, require_google_auth)

__all__ = ["VertexProvider", "VertexAnthropicProvider", "VertexGeminiParser", "vertex_base_url", "providers"]

# google-genai's default when GOOGLE_CLOUD_LOCATION is unset (python-genai _api_client.py);
# Google recommends the global endpoint for availability unless data must stay in a region.
DEFAULT_LOCATION = "global"
ANTHROPIC_VERSION = "vertex-2023-10-16"

_LOCATION = re.compile(r"^[a-z0-9-]+$")
_MODEL = re.compile(r"^[A-Za-z0-9][\w.@-]*$")


def vertex_base_url(project: str, location: str) -> str:
    """The v1 base URL of ``project`` in ``location``.

    ``global`` has no regional host, and the ``us``/``eu`` multi-regions have their own
    (anthropic-sdk-python ``lib/vertex/_client.py``); every other location is
    ``{location}-aiplatform.googleapis.com``.
    """
    if location == "global":
        host = "aiplatform.googleapis.com"
    elif location in ("us", "eu"):
        host = f"aiplatform.{location}.rep.googleapis.com"
    else:
        host = f"{location}-aiplatform.googleapis.com"
    return f"https://{host}/v1/projects/{project}/locations/{location}"


def _model_segment(model: str, provider: str) -> str:
    if not _MODEL.match(model):
        raise InvalidRequestError(
            f"{model!r} is not a Vertex AI model id (e.g. 'gemini-2.5-flash' or "
            "'claude-sonnet-4-5@20250929')", provider=provider)
    return model


# -- errors a user meets first -----------------------------------------------------------------

_HINTS = {
    "SERVICE_DISABLED": "enable the Vertex AI API in this project: gcloud services enable aiplatform.googleapis.com",
    "IAM_PERMISSION_DENIED": "the credentials need the Vertex AI User role (roles/aiplatform.user) in this project",
    "UNAUTHENTICATED": "the access token is invalid or expired: run `gcloud auth application-default login`, "
                       "or pass a fresh `gcloud auth print-access-token`",
    "NOT_FOUND": "check the model id, and that the model is offered in this location "
                 f"(${LOCATION_ENV}; try 'global' or the region its Model Garden page names)",
}


def _google_error(payload: Any) -> Optional[Dict[str, Any]]:
    """The ``error`` object of a Google API error body (also wrapped in a list), else None."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) and ("status" in error or "code" in error) else None


def _hint(status: int, error: Optional[Dict[str, Any]]) -> Optional[str]:
    """What to do about the Vertex errors a new user meets first."""
    if error is None:
        return None
    details = error.get("details")
    reasons = [d.get("reason") for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    for reason in reasons:
        if reason in _HINTS:
            return _HINTS[reason]
    if status == 401 or error.get("status") == "UNAUTHENTICATED":
        return _HINTS["UNAUTHENTICATED"]
    if status == 403 and error.get("status") == "PERMISSION_DENIED":
        return _HINTS["IAM_PERMISSION_DENIED"]
    if status == 404:
        return _HINTS["NOT_FOUND"]
    return None


def _with_hint(info: ErrorInfo, status: int, payload: Any) -> ErrorInfo:
    hint = _hint(status, _google_error(payload))
    if hint:
        info.message = f"{info.message} (Vertex AI: {hint})"
    return info


# -- what both Vertex providers share -------------------------------------------------------------


class _Vertex(Provider):
    """Vertex URLs, credentials and error hints, mixed in before the family's provider."""

    # Whether express mode API keys reach this provider's endpoints (Gemini's only).
    takes_express_key = False
    public_credential_headers = frozenset({QUOTA_PROJECT_HEADER})  # a project id is no secret

    def base_url_from_environment(self, environ: Mapping[str, str]) -> Optional[str]:
        """``https://{host}/v1/projects/{GOOGLE_CLOUD_PROJECT}/locations/{GOOGLE_CLOUD_LOCATION}``,
        or, for Gemini with an express mode API key (``express_key_env``), the global
        endpoint without project or location.

        Raises:
            InvalidRequestError: ``GOOGLE_CLOUD_PROJECT`` is unset (and no express mode key
                applies), or a value does not look like a project id or a location.
        """
        project = (environ.get(PROJECT_ENV) or "").strip()
        if not project and express_key_env(environ):
            if self.takes_express_key:
                return EXPRESS_BASE_URL
            raise InvalidRequestError(
                f"{self.id} needs a Google Cloud project: Vertex AI express mode API keys "
                f"(${USE_VERTEXAI_ENV} with ${express_key_env(environ)}) serve only Gemini's "
                f"generateContent; set ${PROJECT_ENV} for application-default credentials", provider=self.id)
        if not project:
            raise InvalidRequestError(
                f"Vertex AI needs a Google Cloud project: set ${PROJECT_ENV} (and ${LOCATION_ENV}, "
                f"default {DEFAULT_LOCATION!r}), or pass base_urls={{'vertex': ...}}", provider=self.id)
        location = (environ.get(LOCATION_ENV) or "").strip() or DEFAULT_LOCATION
        if not PROJECT_ID.match(project):
            raise InvalidRequestError(f"${PROJECT_ENV}={project!r} is not a Google Cloud project id",
                                      provider=self.id)
        if not _LOCATION.match(location):
            raise InvalidRequestError(
                f"${LOCATION_ENV}={location!r} is not a Vertex AI location (e.g. 'global', 'us-central1')",
                provider=self.id)
        return vertex_base_url(project, location)

    def resolve_auth(self, auth_store: AuthStore) -> Optional[ApiKey]:
        """An explicit access token (``api_keys["vertex"]`` or the auth file), else an express
        mode API key where google-genai would take one (``express_key_env``), else
        application-default credentials as a token provider.

        Raises:
            AuthenticationError: none of these, and google-auth is not installed.
        """
        key = self._explicit_key(auth_store, strict=True)
        if key is not None:
            return key
        express = express_key_env(auth_store.environ) if self.takes_express_key else None
        if express is not None:
            from_env = auth_store.get(self.id, (express,))
            if from_env is not None:
                return ExpressModeKey(from_env.reveal(), f"${express} (Vertex AI express mode)")
        require_google_auth()
        return ApiKey(token_provider=application_default_tokens(), source="Google application-default credentials")

    def _explicit_key(self, auth_store: AuthStore, strict: bool) -> Optional[ApiKey]:
        key = auth_store.get(self.id, strict=strict)
        if key is None and self.key_id:
            key = auth_store.get(self.key_id, strict=strict)
        return key

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        """An express mode key in ``x-goog-api-key``; else the OAuth access token as a Bearer
        token, with the quota project in ``x-goog-user-project`` when there is one (both are
        credential headers, dropped on a redirect to another host; the token is redacted
        everywhere, the project id, no secret, only in ``explain()``).
        Never an anthropic-version header: Claude on Vertex takes the version in the body."""
        if key is None:
            return {}
        if isinstance(key, ExpressModeKey):
            return {"x-goog-api-key": key.reveal()}
        headers = {"Authorization": f"Bearer {key.reveal()}"}  # loads the credentials first
        quota = quota_project(key, os.environ)
        if quota:
            headers[QUOTA_PROJECT_HEADER] = quota
        return headers

    def credential_headers(self, auth_store: AuthStore) -> Tuple[str, ...]:
        """What ``auth_headers`` will send, known without loading credentials or fetching a
        token: the quota project comes from the environment, the loaded credentials, or the
        credentials file google-auth will load."""
        environ = auth_store.environ
        key = self._explicit_key(auth_store, strict=False)
        if key is None and self.takes_express_key and express_key_env(environ):
            return ("x-goog-api-key",)
        if key is None:
            if not has_google_auth():
                return ()  # the request would fail before sending anything
            key = ApiKey(token_provider=application_default_tokens(), source="Google application-default credentials")
        quota = quota_project(key, environ, known=True)
        return ("Authorization",) + ((QUOTA_PROJECT_HEADER,) if quota else ())


# -- Gemini on Vertex ------------------------------------------------------------------------------


class VertexGeminiParser(GeminiParser):
    """Gemini replies as Vertex sends them.

    Vertex puts ``usageMetadata: {"trafficType": "ON_DEMAND"}`` on every chunk and the
    token counts only on the last; a blocked prompt gets no counts at all. Such a
    ``usageMetadata`` is no usage report, so it must not read as zero tokens.
    """

    def feed_chunk(self, chunk: Any) -> List[Event]:
        meta = chunk.get("usageMetadata") if isinstance(chunk, dict) else None
        if isinstance(meta, dict) and not any(key.endswith("Count") for key in meta):
            chunk = {key: value for key, value in chunk.items() if key != "usageMetadata"}
        return super().feed_chunk(chunk)


class VertexProvider(_Vertex, GeminiProvider):
    """Gemini on Vertex AI: the Gemini wire format under ``publishers/google``."""

    id = "vertex"
    otel_provider_name = "gcp.vertex_ai"
    takes_express_key = True
    # Not Gemini's: the base URL is built from the project and location, and no variable
    # holds an access token (it lives an hour). The ignores: the bases infer narrower types.
    default_base_url = None  # type: ignore[assignment]
    env_keys = ()  # type: ignore[assignment]

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, _model_segment(model, self.id))
        # The Gemini path "/models/{model}:..." sits under the publisher on Vertex.
        plan.path = "/publishers/google" + plan.path
        return plan

    def stream_parser(self, model: str) -> VertexGeminiParser:
        return self.priced(VertexGeminiParser(self.id, model))

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        return _with_hint(super().describe_error(status, payload, text, headers), status, payload)


# -- Claude on Vertex ------------------------------------------------------------------------------


def _base_id(model: str) -> str:
    """``claude-sonnet-4-5`` for ``claude-sonnet-4-5@20250929``: Vertex pins versions after ``@``."""
    return model.split("@", 1)[0]


class VertexAnthropicProvider(_Vertex, AnthropicProvider):
    """Claude on Vertex AI: the Anthropic Messages format through ``rawPredict``.

    Shares ``vertex``'s credentials and settings (``key_id``).
    """

    id = "vertex-anthropic"
    otel_provider_name = "gcp.vertex_ai"
    key_id = "vertex"
    default_base_url = None  # type: ignore[assignment]
    env_keys = ()  # type: ignore[assignment]

    # The Anthropic rules read generations from ids like "claude-opus-4-7-20260101"; give
    # them the id without Vertex's "@version".
    def reasoning(self, model: str) -> Reasoning:
        return super().reasoning(_base_id(model))

    def takes_sampling(self, model: str) -> bool:
        return super().takes_sampling(_base_id(model))

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, _model_segment(model, self.id))
        plan.body.pop("model", None)  # named in the URL instead
        plan.body["anthropic_version"] = ANTHROPIC_VERSION  # instead of the anthropic-version header
        plan.headers = {k: v for k, v in plan.headers.items() if k.lower() != "anthropic-version"}
        method = "streamRawPredict" if request.stream else "rawPredict"
        plan.path = f"/publishers/anthropic/models/{model}:{method}"
        return plan

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        """Claude's own errors come in Anthropic's shape; Vertex's (permissions, quota,
        unknown model) in Google's ``{"error": {"code", "message", "status"}}``."""
        error = _google_error(payload)
        if error is None:
            return super().describe_error(status, payload, text, headers)
        info = ErrorInfo(str(error.get("message") or text[:500]), str(error.get("status") or "") or None)
        return _with_hint(info, status, payload)


def providers() -> List[Provider]:
    return [VertexProvider(), VertexAnthropicProvider()]
