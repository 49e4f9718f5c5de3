"""Azure Functions triggers: parse the trigger input, call one service, map errors.

The HTTP API needs no trigger module of its own: ``function_app.py`` serves the whole ASGI app
through ``AsgiFunctionApp``. The blob trigger (drop-folder ingestion) and the queue trigger
(training jobs) will live here as blueprints registered on that app.
"""
