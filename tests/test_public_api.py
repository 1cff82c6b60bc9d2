"""The public surface: every documented name importable; import stays cheap."""
import subprocess
import sys

import llmsync

DOCUMENTED = """Client Message Role Text Image Document ToolDefinition ToolCall ToolChoice Usage FinishReason
Response Request ThinkingLevel EffortLevel CacheOptions ParallelToolConfig RetryPolicy RetryCondition
TextDelta ReasoningDelta ToolCallStart ToolCallDelta ToolCallEnd UsageUpdate Completed ToolResult LLMError
AuthenticationError RateLimitError InvalidRequestError ContextLengthError NetworkError TimeoutError
ProviderError StreamError AuthStore ApiKey ModelMeta models register_provider tool Tool ToolExecutor
RunResult BatchResult Provider""".split()


def test_every_documented_name_is_exported():
    assert set(DOCUMENTED) <= set(llmsync.__all__)


def test_every_exported_name_resolves():
    for name in llmsync.__all__:
        assert getattr(llmsync, name) is not None, name


def test_importing_llmsync_loads_no_provider_http_or_catalog():
    code = ("import sys, llmsync; bad = [m for m in sys.modules if m.startswith(('llmsync.providers', "
            "'requests', 'backoff', 'sseclient', 'llmsync.catalog'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
