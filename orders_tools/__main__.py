"""``python -m orders_tools`` is the ``orders-analytics`` command."""

from orders_tools.cli import main

raise SystemExit(main())
