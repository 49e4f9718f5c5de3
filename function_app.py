"""Azure Functions entry: the same ASGI app as ``cvstudio serve``, behind AsgiFunctionApp.

Anonymous HTTP auth because the Custom Vision SDK never sends a function key: the app checks
``Training-Key``/``Prediction-Key`` itself. host.json sets ``routePrefix`` to "" so the app owns
the URLs.
"""

import azure.functions as func

from shared.api.app import create_app
from shared.bootstrap import build_services
from shared.settings import load_settings

app = func.AsgiFunctionApp(app=create_app(build_services(load_settings())), http_auth_level=func.AuthLevel.ANONYMOUS)
