"""``python -m lambda_app`` is the ``orders-analytics`` command."""

from lambda_app.cli import main

raise SystemExit(main())
