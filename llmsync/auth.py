"""API keys: where they come from, and how they stay out of reprs, errors and logs."""
import json
import os
import stat
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Union

from .errors import AuthenticationError

__all__ = ["ApiKey", "AuthStore", "DEFAULT_AUTH_FILE"]

DEFAULT_AUTH_FILE = "~/.config/llmsync/auth.json"


class ApiKey:
    """A secret that never shows itself: ``repr`` and ``str`` are redacted.

    Either a fixed secret, or a ``token_provider``: a callable returning a fresh token
    (an Azure Entra ID or Google OAuth access token), called for every request and
    never cached here, so a token is never used past the expiry its provider knows.
    ``reveal()`` returns the secret; only the transport calls it, to build headers.
    """

    __slots__ = ("_secret", "_token_provider", "source")

    def __init__(self, secret: Optional[str] = None, source: str = "explicit",
                 token_provider: Optional[Callable[[], str]] = None) -> None:
        if token_provider is not None:
            if secret is not None or not callable(token_provider):
                raise AuthenticationError(
                    f"ApiKey takes a secret or a callable token_provider, not both (from {source})")
            self._secret: Optional[str] = None
        else:
            self._secret = _checked(secret, source)
        self._token_provider = token_provider
        self.source = source

    @property
    def is_token_provider(self) -> bool:
        """Whether the secret is a token fetched per request (Entra ID, OAuth)."""
        return self._token_provider is not None

    @property
    def token_provider(self) -> Optional[Callable[[], str]]:
        """The callable behind a token-provider key (None for a fixed secret).

        For what a provider may read from it besides tokens (Vertex: the quota project of
        Google credentials), without calling it. It never holds the token itself.
        """
        return self._token_provider

    def reveal(self) -> str:
        """The secret: the fixed one, or a token fetched from ``token_provider`` now."""
        if self._token_provider is None:
            return self._secret  # type: ignore[return-value]
        return _checked(self._token_provider(), f"{self.source} token_provider")

    def __repr__(self) -> str:
        return f"ApiKey('***', source={self.source!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ApiKey) and other._secret == self._secret
                and other._token_provider == self._token_provider)

    def __hash__(self) -> int:
        return hash((self._secret, self._token_provider))

    def __reduce__(self):
        # type(self): a provider's own kind of key (Vertex express mode) stays that kind.
        return (type(self), (self._secret, self.source, self._token_provider))


def _checked(secret: object, source: str) -> str:
    """``secret`` stripped, or ``AuthenticationError`` (never quoting it)."""
    if not isinstance(secret, str) or not secret.strip():
        raise AuthenticationError(f"an API key must be a non-empty string (from {source})")
    secret = secret.strip()
    if not (secret.isascii() and secret.isprintable()):
        # Never quote it: requests and http.client would put it in their messages.
        raise AuthenticationError(
            f"the API key from {source} holds a line break, a control character or a "
            "non-ASCII character (pasted with extra characters?); keys are printable ASCII")
    return secret


class AuthStore:
    """Resolves a key per provider id: explicit > environment > auth file.

    The auth file (``$LLMSYNC_AUTH_FILE``, default ``~/.config/llmsync/auth.json``) is a
    JSON object ``{"openai": "sk-...", ...}``; it is refused when group- or
    world-readable, as ssh refuses a readable private key.
    """

    def __init__(
        self,
        api_keys: Optional[Mapping[str, Union[str, ApiKey]]] = None,
        environ: Optional[Mapping[str, str]] = None,
        auth_file: Optional[str] = None,
    ) -> None:
        self._explicit: Dict[str, ApiKey] = {
            provider: key if isinstance(key, ApiKey) else ApiKey(key, f"api_keys[{provider!r}]")
            for provider, key in (api_keys or {}).items()
        }
        self._environ = environ
        self._auth_file = auth_file
        self._file_keys: Optional[Dict[str, str]] = None
        self._seen: Set[str] = {key._secret for key in self._explicit.values() if key._secret}

    def known_secrets(self) -> Set[str]:
        """Every fixed secret this store has handed out or holds (for redaction by value)."""
        return set(self._seen)

    def __repr__(self) -> str:
        return f"AuthStore(explicit={sorted(self._explicit)})"

    @property
    def explicit_providers(self) -> List[str]:
        """Provider ids with an explicitly given key."""
        return sorted(self._explicit)

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def get(self, provider_id: str, env_vars: Sequence[str] = (), strict: bool = True) -> Optional[ApiKey]:
        """The key for ``provider_id``, or None when none is configured anywhere.

        Raises:
            AuthenticationError: the auth file is readable by others or unreadable,
                unless ``strict`` is False (for providers that need no key), when such a
                file reads as holding no keys.
        """
        if provider_id in self._explicit:
            return self._explicit[provider_id]
        for name in env_vars:
            value = self.environ.get(name)
            if value and value.strip():
                key = ApiKey(value, f"${name}")
                self._seen.add(key.reveal())
                return key
        try:
            secret = self._load_file().get(provider_id)
        except AuthenticationError:
            if strict:
                raise
            return None
        if not secret:
            return None
        key = ApiKey(secret, "auth file")
        self._seen.add(key.reveal())
        return key

    def require(self, provider_id: str, env_vars: Sequence[str] = ()) -> ApiKey:
        """Like ``get``, but raise ``AuthenticationError`` naming where to put the key."""
        key = self.get(provider_id, env_vars)
        if key is None:
            where = " or ".join(f"${name}" for name in env_vars) or "an auth file entry"
            raise AuthenticationError(
                f"no API key for {provider_id!r}: set {where}, pass "
                f"api_keys={{{provider_id!r}: ...}} to Client, or add it to "
                f"{self._file_path()}",
                provider=provider_id,
            )
        return key

    def _file_path(self) -> str:
        path = self._auth_file or self.environ.get("LLMSYNC_AUTH_FILE") or DEFAULT_AUTH_FILE
        return os.path.expanduser(path)

    def _load_file(self) -> Dict[str, str]:
        if self._file_keys is not None:
            return self._file_keys
        path = self._file_path()
        try:
            mode = os.stat(path).st_mode
        except OSError:
            self._file_keys = {}
            return self._file_keys
        if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AuthenticationError(
                f"refusing to read {path}: it is readable by other users "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
            )
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise AuthenticationError(f"cannot read auth file {path}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise AuthenticationError(f"auth file {path} must hold a JSON object")
        self._file_keys = {k: v for k, v in data.items() if isinstance(v, str)}
        return self._file_keys
