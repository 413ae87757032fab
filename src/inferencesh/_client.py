"""What both clients share: reading and checking the configuration (key, base URL, retries,
timeouts, how tasks are followed); no I/O.

The clients are ``inferencesh._async.client.AsyncInference`` and its generated blocking twin,
``Inference``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import cast

import httpx

from inferencesh._errors import InvalidInputError, MissingAPIKeyError
from inferencesh._logging import register_secret
from inferencesh._transport import DEFAULT_BASE_URL, TransportConfig, check_poll_interval

__all__ = ["ClientBase"]


def _api_key(api_key: str | None, proxy_url: str | None) -> str | None:
    """The key to send; none in ``proxy_url`` mode, where the proxy adds it."""
    if proxy_url is not None:
        if api_key is not None:
            raise InvalidInputError(
                "pass api_key or proxy_url, not both: with proxy_url the proxy adds the key"
            )
        return None
    key = api_key if api_key is not None else os.environ.get("INFERENCE_API_KEY")
    if not isinstance(key, str) or not key.strip():
        raise MissingAPIKeyError(
            "no API key: pass inference(api_key=...), set INFERENCE_API_KEY, "
            "or use proxy_url=... behind a proxy that adds it"
        )
    key = key.strip()
    register_secret(key)
    return key


class ClientBase:
    """Configuration shared by the two clients; no I/O."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None,
        timeout: float | httpx.Timeout | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
        max_concurrency: int,
        stream_idle_timeout: float | None,
        proxy_url: str | None,
        strict_responses: bool,
        stream: bool,
        poll_interval: float,
    ) -> None:
        key = _api_key(api_key, proxy_url)
        url = base_url or os.environ.get("INFERENCE_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(cast(object, url), str) or not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must be an http(s) URL, got {url!r}")
        if type(cast(object, max_retries)) is not int:
            raise InvalidInputError(f"max_retries must be an int >= 0, got {max_retries!r}")
        if type(cast(object, strict_responses)) is not bool:
            raise InvalidInputError(
                f"strict_responses must be True or False, got {strict_responses!r}"
            )
        if type(cast(object, stream)) is not bool:
            raise InvalidInputError(f"stream must be True or False, got {stream!r}")
        interval = check_poll_interval(poll_interval)
        if interval is None:
            raise InvalidInputError("poll_interval must be a number of seconds > 0, got None")
        self._config = TransportConfig(
            api_key=key,
            base_url=url,
            timeout=timeout,
            max_retries=max_retries,
            headers=headers,
            max_concurrency=max_concurrency,
            stream_idle_timeout=stream_idle_timeout,
            proxy_url=proxy_url,
            strict_responses=strict_responses,
            stream=stream,
            poll_interval=interval,
        )

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._config.base_url

    @property
    def max_retries(self) -> int:
        """How many times a failed request is retried (when retrying is safe)."""
        return self._config.max_retries

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"
