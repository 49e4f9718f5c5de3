"""Azure Functions triggers: parse the trigger input, call one service, map errors.

The HTTP API needs no trigger module of its own: ``function_app.py`` serves the whole ASGI app
through ``AsgiFunctionApp``. The training role registers these blueprints on that same app:

runtime.py         one Services per worker process, shared by the HTTP app and the triggers
drop_folder.py     the drop container's blob trigger -> drop-folder ingestion
training_queue.py  the training queue's triggers: start a Container Apps job; give up; end silent jobs
"""
