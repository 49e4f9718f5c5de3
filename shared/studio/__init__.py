"""The studio: the web app people use, served as static files by the training role.

It drives only the public REST API with the training key (kept in the browser's session), so
everything it shows an app developer can also do over REST. No build chain: plain HTML, CSS and ES
modules, served under content-hashed names so that a browser caches them for good.
"""
