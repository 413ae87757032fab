"""The ``inferencesh`` logger; ``INFERENCE_LOG=debug`` (or ``info``) turns it on.

API keys are registered here and scrubbed from every record the logger emits, so a key cannot
leak through a log line even if it ends up in a message by accident.
"""

from __future__ import annotations

import logging
import os
import re

__all__ = ["logger", "redact", "register_secret"]

logger = logging.getLogger("inferencesh")

_secrets: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")


def register_secret(secret: str) -> None:
    """Remember ``secret`` so that :func:`redact` and every log record hide it."""
    if len(secret) >= 4:
        _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret and bearer token replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    if "earer" in text:
        text = _BEARER.sub(r"\1***", text)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True


def _configure() -> None:
    logger.addFilter(_RedactingFilter())
    level = os.environ.get("INFERENCE_LOG", "").strip().lower()
    if level in ("debug", "info", "warning"):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s %(levelname)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level.upper())


_configure()
