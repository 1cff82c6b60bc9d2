"""Vertex AI credentials: application-default credentials as a token provider, their quota
project, and express mode API keys. google-auth (extra ``llmsync[vertex]``) is imported only
here, on first use.
"""
import json
import re
import threading
from typing import Any, Mapping, Optional

from ..auth import ApiKey
from ..errors import AuthenticationError, InvalidRequestError

__all__ = ["ApplicationDefaultTokens", "ExpressModeKey", "application_default_tokens", "express_key_env",
           "has_google_auth", "require_google_auth", "quota_project"]

PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV = "GOOGLE_CLOUD_LOCATION"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# google-auth's override of the credentials' quota project (google/auth/environment_vars.py;
# applied by google.auth.default() through with_quota_project_from_environment).
QUOTA_PROJECT_ENV = "GOOGLE_CLOUD_QUOTA_PROJECT"
# Sent as google-auth's Credentials.apply() and python-genai's _api_client.py send it.
QUOTA_PROJECT_HEADER = "x-goog-user-project"
# Express mode: "an express mode API key passed in the x-goog-api-key HTTP header", on the
# global endpoint without projects or locations, for publishers.models generateContent and
# streamGenerateContent only (Vertex AI express mode REST API reference). The variables are
# python-genai's (_api_client.py BaseApiClient.__init__, get_env_api_key).
USE_VERTEXAI_ENV = "GOOGLE_GENAI_USE_VERTEXAI"
EXPRESS_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
EXPRESS_BASE_URL = "https://aiplatform.googleapis.com/v1"

# Project ids: lower-case letters, digits and hyphens; older domain-scoped ones hold
# "example.com:name"; numeric project numbers also work. Anything else would reshape the URL.
PROJECT_ID = re.compile(r"^[a-z0-9][a-z0-9.:-]*$")


class ApplicationDefaultTokens:
    """A ``token_provider`` over google-auth application-default credentials.

    The credentials are loaded on first use and kept; a token is refreshed only when it
    is missing or expired, and google-auth counts a token as expired a few minutes early
    (``_helpers.REFRESH_THRESHOLD``), so it is renewed before Vertex would refuse it. One
    thread refreshes while the others wait for its token.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Any = None

    def __repr__(self) -> str:
        return "ApplicationDefaultTokens()"

    def __reduce__(self) -> Any:
        # A pickled key (a Dask batch, say) finds the process's own credentials on arrival.
        return (application_default_tokens, ())

    @property
    def quota_project_id(self) -> Optional[str]:
        """The loaded credentials' quota project (google-auth has applied
        ``$GOOGLE_CLOUD_QUOTA_PROJECT`` to it); None before they are loaded."""
        return getattr(self._credentials, "quota_project_id", None)

    def known_quota_project(self, environ: Mapping[str, str]) -> Optional[str]:
        """The quota project, without loading the credentials or fetching a token (for
        ``explain``): the loaded credentials', else the one in the file google-auth loads."""
        if self._credentials is not None:
            return self.quota_project_id
        return _quota_project_on_disk(environ)

    def __call__(self) -> str:
        from google.auth import exceptions  # the vertex extra; never imported before use

        with self._lock:
            try:
                credentials = self._credentials
                if credentials is None:
                    credentials = self._credentials = _default_credentials()
                if not credentials.token or credentials.expired:
                    credentials.refresh(_auth_request())
            except exceptions.GoogleAuthError as exc:
                raise AuthenticationError(
                    f"no Google Cloud access token from application-default credentials "
                    f"({type(exc).__name__}: {str(exc)[:300]}); run `gcloud auth application-default "
                    "login`, set GOOGLE_APPLICATION_CREDENTIALS, or pass api_keys={'vertex': <token>}",
                    provider="vertex") from exc
            return credentials.token


def _default_credentials() -> Any:
    import google.auth

    credentials, _project = google.auth.default(scopes=list(SCOPES))
    return credentials


def _auth_request() -> Any:
    import google.auth.transport.requests

    return google.auth.transport.requests.Request()


def _quota_project_on_disk(environ: Mapping[str, str]) -> Optional[str]:
    """``quota_project_id`` of the credentials file google.auth.default() tries first
    (``$GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's application-default file): every
    file type keeps it at the top level. Read as JSON; nothing is refreshed."""
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if not path:
        try:
            from google.auth import _cloud_sdk

            path = _cloud_sdk.get_application_default_credentials_path()
        except (ImportError, AttributeError):  # no google-auth, or it moved the helper
            return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    value = data.get("quota_project_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


# One set of credentials per process, shared by both Vertex providers.
_ADC = ApplicationDefaultTokens()


def application_default_tokens() -> ApplicationDefaultTokens:
    return _ADC


def has_google_auth() -> bool:
    try:
        import google.auth  # noqa: F401
    except ImportError:
        return False
    return True


def require_google_auth() -> None:
    if not has_google_auth():
        raise AuthenticationError(
            "Vertex AI without an explicit access token needs google-auth for application-default "
            "credentials: pip install 'llmsync[vertex]', or pass api_keys={'vertex': <token from "
            "`gcloud auth print-access-token`>}", provider="vertex")


def express_key_env(environ: Mapping[str, str]) -> Optional[str]:
    """The variable holding a Vertex AI express mode API key, when google-genai would use one.

    That is when ``$GOOGLE_GENAI_USE_VERTEXAI`` is ``true`` or ``1``, ``$GOOGLE_API_KEY``
    (else ``$GEMINI_API_KEY``) is set, and neither ``$GOOGLE_CLOUD_PROJECT`` nor
    ``$GOOGLE_CLOUD_LOCATION`` is: a project or location from the environment wins over a
    key from it (python-genai ``_api_client.py``). None otherwise.
    """
    if (environ.get(USE_VERTEXAI_ENV) or "").strip().lower() not in ("true", "1"):
        return None
    if (environ.get(PROJECT_ENV) or "").strip() or (environ.get(LOCATION_ENV) or "").strip():
        return None
    return next((name for name in EXPRESS_KEY_ENVS if (environ.get(name) or "").strip()), None)


class ExpressModeKey(ApiKey):
    """A Vertex AI express mode API key: sent in ``x-goog-api-key``, never as a Bearer token."""

    __slots__ = ()


def quota_project(key: ApiKey, environ: Mapping[str, str], known: bool = False) -> Optional[str]:
    """The project to bill and count quota against, for ``x-goog-user-project``.

    ``$GOOGLE_CLOUD_QUOTA_PROJECT``, as google-auth lets it override the credentials' own;
    else the quota project of the token provider's credentials (loaded by now, unless
    ``known``: then only what is known without loading them). None: no header.

    Raises:
        InvalidRequestError: the value is not a project id (it would reshape the header).
    """
    quota = (environ.get(QUOTA_PROJECT_ENV) or "").strip()
    where = f"${QUOTA_PROJECT_ENV}"
    if not quota:
        source = key.token_provider
        quota = (source.known_quota_project(environ) if known and isinstance(source, ApplicationDefaultTokens)
                 else getattr(source, "quota_project_id", None)) or ""
        where = "the credentials' quota_project_id"
    if quota and not (isinstance(quota, str) and PROJECT_ID.match(quota)):
        raise InvalidRequestError(f"{where}={quota!r} is not a Google Cloud project id", provider="vertex")
    return quota or None
