"""AWS credentials and SigV4 signing for Bedrock, through botocore (imported only here,
and only when a Bedrock request is made without a Bedrock API key).

Credentials come from botocore's default chain (environment, shared config and
credentials files, SSO, web identity, container and instance roles). Refreshable
credentials (SSO, assumed roles, instance roles) refresh themselves when read near
their expiry; after AWS reports an expired token the cached chain is dropped, so the
next attempt reads it afresh.
"""
import os
import re
import threading
import time
from typing import Any, Dict, Mapping, Optional
from urllib.parse import urlsplit

from ..errors import AuthenticationError, InvalidRequestError
from .bedrock_stream import require_botocore

__all__ = ["AwsSigner", "region_of", "REGION_VARS", "NO_CREDENTIALS"]

REGION_VARS = ("AWS_REGION", "AWS_DEFAULT_REGION")
SERVICE = "bedrock"  # the signing name of bedrock-runtime (service-2.json metadata.signingName)

NO_CREDENTIALS = (
    "no credentials for 'bedrock': set a Bedrock API key ($AWS_BEARER_TOKEN_BEDROCK or "
    "api_keys={'bedrock': ...}), or AWS credentials that botocore's credential chain finds "
    "($AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, $AWS_PROFILE with ~/.aws/credentials or "
    "'aws sso login', a container or instance role)")

_HOST_REGION = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$")
_REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
# Headers a proxy or HTTP stack may rewrite are left unsigned; SigV4 needs only host
# and x-amz-date, and signing content-type keeps the body's declared type bound.
_SIGNED = re.compile(r"^(content-type|x-amz-.*)$", re.IGNORECASE)
_SET_BY_SIGNER = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}


def region_of(url: str, environ: Optional[Mapping[str, str]] = None) -> str:
    """The region to sign for: the one in a Bedrock host name, else ``$AWS_REGION`` or
    ``$AWS_DEFAULT_REGION``.

    Raises:
        InvalidRequestError: neither gives a region.
    """
    match = _HOST_REGION.search((urlsplit(url).hostname or "").lower())
    if match:
        return match.group(1)
    region = environment_region(os.environ if environ is None else environ)
    if region is None:
        raise InvalidRequestError(
            "no AWS region for 'bedrock': set $AWS_REGION (or $AWS_DEFAULT_REGION), e.g. "
            "AWS_REGION=us-east-1", provider="bedrock")
    return region


def environment_region(environ: Mapping[str, str]) -> Optional[str]:
    """``$AWS_REGION``, else ``$AWS_DEFAULT_REGION``, checked; None when neither is set.

    Raises:
        InvalidRequestError: the value is not a region name (it goes into a host name).
    """
    for name in REGION_VARS:
        value = (environ.get(name) or "").strip()
        if value:
            if not _REGION.match(value):
                raise InvalidRequestError(f"${name} must be an AWS region such as us-east-1, got {value!r}",
                                          provider="bedrock")
            return value
    return None


class AwsSigner:
    """Resolves AWS credentials once (thread-safe) and signs requests with SigV4."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._forgotten_at: Optional[float] = None

    def credentials(self) -> Any:
        """botocore's credentials from the default chain, resolved on first use.

        Raises:
            AuthenticationError: the chain finds no credentials.
        """
        with self._lock:
            if self._credentials is None:
                try:
                    require_botocore("Bedrock without an API key (SigV4 signing)")
                except InvalidRequestError as exc:
                    raise AuthenticationError(f"{NO_CREDENTIALS}; {exc.message}", provider="bedrock") from None
                import botocore.session
                from botocore.exceptions import BotoCoreError

                try:
                    credentials = botocore.session.Session().get_credentials()
                except BotoCoreError as exc:  # a broken profile, an expired SSO login...
                    raise AuthenticationError(f"{NO_CREDENTIALS}; botocore said: {exc}",
                                              provider="bedrock") from None
                if credentials is None:
                    raise AuthenticationError(NO_CREDENTIALS, provider="bedrock")
                self._credentials = credentials
            return self._credentials

    def forget(self) -> bool:
        """Drop the cached credentials: the next request reads the chain again.

        Returns True when that is worth a retry now: not when they were already read
        anew in the last minute (the fresh ones are expired too: report it).
        """
        with self._lock:
            self._credentials = None
            now = time.monotonic()
            fresh = self._forgotten_at is not None and now - self._forgotten_at < 60.0
            self._forgotten_at = now
            return not fresh

    def sign(self, url: str, headers: Mapping[str, str], body: bytes) -> Dict[str, str]:
        """``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``) for one attempt.

        Raises:
            AuthenticationError: no credentials, or refreshing them failed.
            InvalidRequestError: no region to sign for.
        """
        region = region_of(url)
        credentials = self.credentials()
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import BotoCoreError

        try:
            frozen = credentials.get_frozen_credentials()  # refreshes refreshable ones near expiry
        except BotoCoreError as exc:
            self.forget()
            raise AuthenticationError(f"refreshing the AWS credentials failed ({exc}); renew them "
                                      "(e.g. 'aws sso login') and try again", provider="bedrock") from None
        signed = {name: value for name, value in headers.items()
                  if _SIGNED.match(name) and name.lower() not in _SET_BY_SIGNER}
        request = AWSRequest(method="POST", url=url, data=body, headers=signed)
        SigV4Auth(frozen, SERVICE, region).add_auth(request)
        out = {"Authorization": request.headers["Authorization"], "X-Amz-Date": request.headers["X-Amz-Date"]}
        if frozen.token:
            out["X-Amz-Security-Token"] = frozen.token
        return out
