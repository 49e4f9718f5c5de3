"""Azure Functions entry: the same ASGI app as ``cvstudio serve``, behind AsgiFunctionApp, and the
training role's triggers (:mod:`functions`), registered on the one app.

Anonymous HTTP auth because the Custom Vision SDK never sends a function key: the app checks
``Training-Key``/``Prediction-Key`` itself. host.json sets ``routePrefix`` to "" so the app owns
the URLs. The prediction role (``CVSTUDIO_ROLE=prediction``) registers no trigger: it only answers
the Prediction API.
"""

import azure.functions as func

from functions import drop_folder, training_queue
from functions.runtime import services
from shared.api.app import create_app

app = func.AsgiFunctionApp(app=create_app(services()), http_auth_level=func.AuthLevel.ANONYMOUS)

if services().settings.role != "prediction":
    app.register_functions(drop_folder.bp)
    app.register_functions(training_queue.bp)
