"""The error hierarchy: context on every error, builtins where they fit, pickling."""
import builtins
import pickle

import llmsync
from llmsync import errors


def test_every_error_is_an_llm_error():
    for name in errors.__all__:
        if name != "LLMSyncWarning":
            assert issubclass(getattr(errors, name), errors.LLMError)


def test_the_warning_is_a_user_warning_not_an_error():
    assert issubclass(errors.LLMSyncWarning, UserWarning)
    assert not issubclass(errors.LLMSyncWarning, errors.LLMError)


def test_timeout_is_also_the_builtin_timeout_and_a_network_error():
    assert issubclass(llmsync.TimeoutError, builtins.TimeoutError)
    assert issubclass(llmsync.TimeoutError, llmsync.NetworkError)


def test_invalid_request_is_also_a_value_error():
    assert issubclass(llmsync.InvalidRequestError, ValueError)
    assert issubclass(llmsync.ContextLengthError, llmsync.InvalidRequestError)


def test_stream_error_is_a_provider_error():
    assert issubclass(llmsync.StreamError, llmsync.ProviderError)


def test_str_carries_provider_status_request_id_and_attempts():
    error = llmsync.RateLimitError("HTTP 429: slow down", status=429, provider="openai",
                                   request_id="req_1", retry_after=2.0)
    error.attempts = 3
    assert str(error) == "HTTP 429: slow down (provider=openai, status=429, request_id=req_1, attempts=3)"
    assert error.retry_after == 2.0


def test_retryability_is_part_of_the_type_and_refined_per_instance():
    assert llmsync.RateLimitError("x").retryable
    assert not llmsync.InvalidRequestError("x").retryable
    assert llmsync.ProviderError("x", retryable=True).retryable


def test_errors_pickle_with_their_context():
    error = llmsync.ProviderError("boom", status=503, provider="anthropic", request_id="r")
    error.attempts = 4
    restored = pickle.loads(pickle.dumps(error))
    assert type(restored) is llmsync.ProviderError
    assert (restored.status, restored.provider, restored.request_id, restored.attempts) == (503, "anthropic", "r", 4)
