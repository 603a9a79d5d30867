"""The tooling around the Lambda's runtime (``lambda_app``): CLI, local AWS emulator, generator, benchmark, local SQL.

Imports ``lambda_app``; the runtime never imports this package (``make lint`` checks it).
"""
