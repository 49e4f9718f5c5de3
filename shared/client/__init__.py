"""Clients of the Custom Vision REST API: the product talking to a Custom Vision endpoint (Azure's or another
cvstudio), as `cvstudio migrate` and `cvstudio export/import` do."""
