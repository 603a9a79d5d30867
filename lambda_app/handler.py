"""AWS Lambda entry point (``lambda_app.handler.lambda_handler``): the app is built once, at INIT.

Building it reads and checks the settings (a bad configuration fails the cold
start with a message naming the variable) and creates the AWS clients that
every invocation of this process reuses. What one invocation does is
``lambda_app.app.App.handle``.
"""

from __future__ import annotations

from typing import Any

from lambda_app.app import App
from lambda_app.logs import logger

APP = App.from_env()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process one S3 notification, SQS batch, SNS notification or EventBridge event."""
    return APP.handle(event, context)
