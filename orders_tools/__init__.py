"""The tooling around the Lambda's runtime (``lambda_app``): CLI, local AWS emulator, generator, benchmark, local SQL.

Imports ``lambda_app``; the runtime never imports this package (``make lint`` checks it).
"""

# First, before any tooling module imports pyarrow: importing lambda_app applies Arrow's allocator defaults
# (settings.ALLOCATOR_DEFAULTS), which Arrow reads only when it first allocates. Without this, a process started
# as `python -m orders_tools.bench run-one` by hand (a profile) ran on mimalloc; `make bench`'s children inherit
# the variables from their parent, which imports lambda_app first.
import lambda_app  # noqa: F401
