"""Azure OpenAI: ``azure`` (Chat Completions) and ``azure-responses`` (the Responses API).

Both share ``azure``'s key and endpoint. The wire bodies are OpenAI's (the subclassed
providers build them); Azure differs in four places, all here:

* URL. The endpoint is the resource URL (``https://RESOURCE.openai.azure.com``), from
  ``base_urls["azure"]`` or ``$AZURE_OPENAI_ENDPOINT``. ``$AZURE_OPENAI_API_VERSION``
  chooses the route: a dated version (default ``DEFAULT_API_VERSION``) uses
  ``/openai/deployments/{deployment}/chat/completions?api-version=...``; ``v1`` (or
  ``latest``) the v1 API ``/openai/v1/chat/completions`` with the deployment as
  ``model``; ``preview`` the v1 API with ``?api-version=preview``
  (learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle).
* Auth. A key goes in the ``api-key`` header; an ``ApiKey(token_provider=...)`` (a
  Microsoft Entra ID token source) is called for every request and sent as
  ``Authorization: Bearer <token>``.
* Content filters. ``prompt_filter_results`` / ``content_filter_results`` (Chat) and
  ``content_filters`` (Responses) annotate replies; a filtered category makes the reply
  ``CONTENT_FILTER`` (text kept) with the categories in ``Response.error_message``. A
  filtered prompt is HTTP 400 ``code: content_filter``: an ``InvalidRequestError`` naming
  the categories.
* Catalog. ``azure/<deployment>`` names a deployment, not a model. Model knowledge and
  prices come from the OpenAI catalog entry of the deployment name when it is a model id,
  or of ``deployments[name]``; cost uses the model the reply reports (Azure answers with
  the underlying model, e.g. ``gpt-4o-mini-2024-07-18``), so any deployment is priced.
  Azure's global-deployment prices are OpenAI's; regional and data-zone deployments cost
  more, which llmsync does not know.
"""
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import quote

from ..auth import ApiKey
from ..catalog import ModelMeta, lookup
from ..errors import InvalidRequestError
from ..events import Event
from ..options import Request
from ..types import FinishReason, Response
from .base import ErrorInfo, Provider, StreamParser, WirePlan
from .openai import ChatCompletionsParser, OpenAIProvider, fine_tune_base
from .openai_responses import OpenAIResponsesProvider, ResponsesParser

__all__ = ["AzureProvider", "AzureResponsesProvider", "AzureChatParser", "DEFAULT_API_VERSION",
           "filtered_categories", "providers"]

# The latest dated GA version of the data-plane inference API (the REST reference lists
# 2024-10-21 as "Latest GA release"; later dated versions are previews, then v1).
DEFAULT_API_VERSION = "2024-10-21"
ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
API_VERSION_ENV = "AZURE_OPENAI_API_VERSION"
KEY_ENV = "AZURE_OPENAI_API_KEY"
_V1 = {"v1": None, "latest": None, "preview": "preview"}  # api-version -> query value on /openai/v1


def _api_version(environ: Mapping[str, str], explicit: Optional[str]) -> Optional[str]:
    value = explicit or environ.get(API_VERSION_ENV, "").strip()
    return value or None


def _query(version: Optional[str]) -> str:
    return f"?api-version={quote(version, safe='')}" if version else ""


def _endpoint(environ: Mapping[str, str], provider: str) -> str:
    """The resource endpoint from ``$AZURE_OPENAI_ENDPOINT``; a copied ``/openai/v1`` or
    ``/openai`` suffix is dropped, since llmsync adds the route itself."""
    endpoint = environ.get(ENDPOINT_ENV, "").strip().rstrip("/")
    if not endpoint:
        raise InvalidRequestError(
            f"no Azure OpenAI endpoint: set ${ENDPOINT_ENV} (https://RESOURCE.openai.azure.com) "
            "or pass base_urls={'azure': ...} to Client", provider=provider)
    for suffix in ("/openai/v1", "/openai"):
        if endpoint.endswith(suffix):
            return endpoint[:-len(suffix)]
    return endpoint


# -- content filters -------------------------------------------------------------------------


def _category(name: str, result: Any) -> Optional[str]:
    """``"self_harm (severity medium)"`` for a filtered category, else None."""
    if not isinstance(result, dict) or result.get("filtered") is not True:
        return None
    if isinstance(result.get("severity"), str):
        return f"{name} (severity {result['severity']})"
    if result.get("detected") is True:
        return f"{name} (detected)"
    return name


def filtered_categories(results: Any) -> List[str]:
    """The filtered categories of one ``content_filter_results`` object, e.g.
    ``["self_harm (severity medium)", "jailbreak (detected)"]``.

    Custom blocklists (``custom_blocklists: {filtered, details: [{filtered, id}]}``) are
    named by their ids.
    """
    if not isinstance(results, dict):
        return []
    out: List[str] = []
    for name, result in results.items():
        if name == "custom_blocklists" and isinstance(result, dict):
            ids = [str(d.get("id")) for d in result.get("details") or ()
                   if isinstance(d, dict) and d.get("filtered") is True]
            if ids or result.get("filtered") is True:
                out.append(f"custom_blocklists ({', '.join(ids)})" if ids else name)
            continue
        category = _category(str(name), result)
        if category:
            out.append(category)
    return out


class _Filters:
    """Filtered categories seen in one reply, prompt and completion apart."""

    def __init__(self) -> None:
        self.prompt: List[str] = []
        self.completion: List[str] = []

    def add(self, where: List[str], categories: List[str]) -> None:
        where.extend(c for c in categories if c not in where)

    def note_chat(self, chunk: Dict[str, Any]) -> None:
        # prompt_filter_results: [{prompt_index, content_filter_results}] (the first chunk of
        # a stream may hold only these, with "choices": []); each choice: content_filter_results.
        for entry in chunk.get("prompt_filter_results") or ():
            if isinstance(entry, dict):
                self.add(self.prompt, filtered_categories(entry.get("content_filter_results")))
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self.add(self.completion, filtered_categories(choice.get("content_filter_results")))

    def note_responses(self, response: Dict[str, Any]) -> None:
        # Responses: top-level "content_filters": [{blocked, source_type, content_filter_results}].
        for entry in response.get("content_filters") or ():
            if isinstance(entry, dict):
                where = self.prompt if entry.get("source_type") == "prompt" else self.completion
                self.add(where, filtered_categories(entry.get("content_filter_results")))

    def message(self) -> Optional[str]:
        parts = []
        if self.prompt:
            parts.append(f"prompt: {', '.join(self.prompt)}")
        if self.completion:
            parts.append(f"completion: {', '.join(self.completion)}")
        return f"filtered by Azure's content filter ({'; '.join(parts)})" if parts else None

    def apply(self, response: Response) -> Response:
        """Mark ``response`` filtered (text kept) when a category was filtered."""
        message = self.message()
        if message:
            response.finish_reason = FinishReason.CONTENT_FILTER
            response.error_message = message
        return response


class AzureChatParser(ChatCompletionsParser):
    """Chat Completions chunks plus Azure's filter annotations (streamed and whole)."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self.filters = _Filters()

    def feed_chunk(self, chunk: Dict[str, Any]) -> List[Event]:
        self.filters.note_chat(chunk)
        return super().feed_chunk(chunk)

    def finish(self) -> Response:
        return self.filters.apply(super().finish())


class AzureResponsesParser(ResponsesParser):
    """Responses events plus the ``content_filters`` of the final response object."""

    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self.filters = _Filters()

    def feed(self, event: str, data: str) -> List[Event]:
        events = super().feed(event, data)
        if "content_filters" in data:  # rare: decode again only then
            payload = self.decode(data)
            if isinstance(payload, dict):
                self.filters.note_responses(payload.get("response") or payload)
        return events

    def finish(self) -> Response:
        return self.filters.apply(super().finish())


# -- errors ----------------------------------------------------------------------------------

_OPENAI = OpenAIProvider()  # OpenAI's error bodies, which Azure's extend

# What to do about the errors a new user meets first (see docs/azure.rst), by error code.
_HINTS = {
    "DeploymentNotFound": "azure/<name> must name a deployment of this resource (Azure portal > "
                          "Deployments), not a model; a new deployment takes a few minutes",
    "404": f"check that ${ENDPOINT_ENV} is the resource URL https://RESOURCE.openai.azure.com "
           f"and ${API_VERSION_ENV} a version that has this route",
}
_AUTH_HINT = (f"check that ${KEY_ENV} is a key of this resource, or that the token_provider returns "
              "a current Entra ID token for the scope https://cognitiveservices.azure.com/.default")


def _content_filter_detail(error: Dict[str, Any]) -> List[str]:
    # Chat: error.innererror.content_filter_result; Responses: error.content_filters[].
    inner = error.get("innererror")
    categories = filtered_categories(inner.get("content_filter_result")) if isinstance(inner, dict) else []
    for entry in error.get("content_filters") or ():
        if isinstance(entry, dict):
            categories += filtered_categories(entry.get("content_filter_results"))
    return categories


def describe_azure_error(status: int, payload: Any, text: str) -> ErrorInfo:
    """Azure's error bodies: OpenAI's ``{"error": {...}}`` (``code`` a string such as
    ``content_filter`` or ``DeploymentNotFound``), or the gateway's
    ``{"statusCode": 401, "message": ...}`` for a bad or expired token."""
    if isinstance(payload, dict) and "error" not in payload and isinstance(payload.get("message"), str):
        payload = {"error": {"message": payload["message"], "code": str(payload.get("statusCode") or status)}}
    info = _OPENAI.describe_error(status, payload, text)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return info
    code = str(error.get("code")) if error.get("code") is not None else None
    if code == "content_filter":
        categories = _content_filter_detail(error)
        info.error_type = "content_filter"
        info.message = (f"{info.message} (filtered: {', '.join(categories)})" if categories
                        else f"{info.message} (Azure content filter)")
    elif code in _HINTS:
        info.message = f"{info.message} ({_HINTS[code]})"
    elif "api version" in info.message.lower():
        info.message = (f"{info.message} (set ${API_VERSION_ENV} to a version this resource serves, "
                        f"e.g. {DEFAULT_API_VERSION}, or to v1)")
    elif status == 401:
        info.message = f"{info.message} ({_AUTH_HINT})"
    return info


# -- the providers -----------------------------------------------------------------------------


class _Azure:
    """What ``azure`` and ``azure-responses`` share: endpoint, api-version, auth, errors."""

    id: str

    def __init__(self, api_version: Optional[str] = None,
                 deployments: Optional[Mapping[str, str]] = None) -> None:
        """``api_version`` overrides ``$AZURE_OPENAI_API_VERSION``; ``deployments`` maps
        deployment names to model ids, for deployments not named after their model."""
        self.api_version = api_version
        self.deployments = dict(deployments or {})

    def base_url_from_environment(self, environ: Mapping[str, str]) -> Optional[str]:
        """``$AZURE_OPENAI_ENDPOINT``.

        Raises:
            InvalidRequestError: it is not set (naming it), before any HTTP.
        """
        return _endpoint(environ, self.id)

    def route(self, environ: Optional[Mapping[str, str]] = None) -> Tuple[bool, Optional[str]]:
        """``(v1, api-version query value)`` from ``api_version`` or ``$AZURE_OPENAI_API_VERSION``."""
        version = _api_version(os.environ if environ is None else environ, self.api_version)
        if version is not None and version.lower() in _V1:
            return True, _V1[version.lower()]
        return False, version

    def auth_headers(self, key: Optional[ApiKey]) -> Dict[str, str]:
        """``api-key: <key>``, or ``Authorization: Bearer <token>`` for a token provider."""
        if key is None:
            return {}
        # An ApiKey built with token_provider= fetches a fresh Entra ID token per reveal().
        if key.is_token_provider:
            return {"Authorization": f"Bearer {key.reveal()}"}
        return {"api-key": key.reveal()}

    def model_for(self, deployment: str) -> str:
        """The model id behind ``deployment`` (itself when not in ``deployments``)."""
        return self.deployments.get(deployment, deployment)

    def base_model(self, model: str) -> str:
        """The OpenAI model whose entry and rules ``model`` follows: the deployment's model,
        or a fine-tune's base (``gpt-4o-mini-2024-07-18.ft-ID``, ``ft:BASE:...``)."""
        return fine_tune_base(self.model_for(model))

    def model_meta(self, model: str) -> Optional[ModelMeta]:
        """An ``azure`` catalog entry, else the OpenAI entry of the model behind it."""
        return lookup("azure", model) or lookup("openai", self.base_model(model))

    def price_meta(self, model: str) -> Optional[ModelMeta]:
        # A fine-tune runs at prices of its own, not its base model's: unpriced, not wrong.
        behind = self.model_for(model)
        return None if fine_tune_base(behind) != behind else self.model_meta(model)

    def models(self) -> List[ModelMeta]:
        """Deployments are named by their owners: the catalog has none (ask the server)."""
        from ..catalog import models

        return models("azure")

    def describe_error(self, status: int, payload: Any, text: str,
                       headers: Optional[Mapping[str, str]] = None) -> ErrorInfo:
        return describe_azure_error(status, payload, text)


class AzureProvider(_Azure, OpenAIProvider):
    """Azure OpenAI Chat Completions: ``azure/<deployment>``.

    Args:
        api_version: overrides ``$AZURE_OPENAI_API_VERSION`` (a dated version, ``v1`` or
            ``preview``).
        deployments: deployment name -> model id, for deployments not named after their
            model (reasoning levels, context window).
    """

    id = "azure"
    otel_provider_name = "azure.ai.openai"
    env_keys = (KEY_ENV,)
    # Never OpenAI's URL: an Azure key must not go to api.openai.com when no endpoint is set.
    default_base_url = None  # type: ignore[assignment]

    @property
    def models_path(self) -> str:  # type: ignore[override]
        """GET path listing the resource's models (not its deployments)."""
        v1, version = self.route()
        if v1:
            return f"/openai/v1/models{_query(version)}"
        return f"/openai/models{_query(version or DEFAULT_API_VERSION)}"

    def chat_path(self, deployment: str) -> str:
        v1, version = self.route()
        if v1:
            return f"/openai/v1/chat/completions{_query(version)}"
        return (f"/openai/deployments/{quote(deployment, safe='')}/chat/completions"
                f"{_query(version or DEFAULT_API_VERSION)}")

    def system_role(self, model: str) -> str:
        # Azure takes "system" on reasoning models too (treated as developer, 2024-12-01-preview
        # on), while "developer" is unknown to older api-versions.
        return "system"

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, model)
        plan.path = self.chat_path(model)
        return plan

    def stream_parser(self, model: str) -> ChatCompletionsParser:
        return self.priced(AzureChatParser(self.id, model))


class AzureResponsesProvider(_Azure, OpenAIResponsesProvider):
    """Azure OpenAI Responses API: ``azure-responses/<deployment>``, with ``azure``'s key
    and endpoint.

    The v1 route ``/openai/v1/responses`` unless ``$AZURE_OPENAI_API_VERSION`` is a dated
    (preview) version: then ``/openai/responses?api-version=...`` (2025-03-01-preview or
    later; the GA default has no Responses API).
    """

    id = "azure-responses"
    otel_provider_name = "azure.ai.openai"
    key_id = "azure"
    env_keys = (KEY_ENV,)
    default_base_url = None  # type: ignore[assignment]

    @property
    def models_path(self) -> str:  # type: ignore[override]
        return AzureProvider(self.api_version).models_path

    def responses_path(self) -> str:
        v1, version = self.route()
        if v1 or version is None:
            return f"/openai/v1/responses{_query(version)}"
        return f"/openai/responses{_query(version)}"

    def build_request(self, request: Request, model: str) -> WirePlan:
        plan = super().build_request(request, model)
        plan.path = self.responses_path()
        return plan

    def stream_parser(self, model: str) -> StreamParser:
        return self.priced(AzureResponsesParser(self.id, model))

    def parse_response(self, body: Any, model: str) -> Response:
        response = super().parse_response(body, model)
        filters = _Filters()
        if isinstance(body, dict):
            filters.note_responses(body)
        return filters.apply(response)


def providers() -> List[Provider]:
    return [AzureProvider(), AzureResponsesProvider()]
