"""Structured JSON logging (AWS Lambda Powertools): one line per event, counts and keys, never row contents."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", "orders-analytics"),
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
)
