"""Structured JSON logging (AWS Lambda Powertools): one line per event, counts and keys, never row contents.

The logger exists at import (every module logs through it); :func:`configure`
applies the settings at INIT.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from lambda_app.settings import Settings

logger = Logger(service=Settings.service_name, level=Settings.log_level)


def configure(settings: Settings) -> None:
    """Level and service name from the settings."""
    logger.setLevel(settings.log_level)
    logger.append_keys(service=settings.service_name)
