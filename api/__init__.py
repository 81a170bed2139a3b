"""callscript's REST management API (Flask): `create_app` in api/app.py, one blueprint
per resource, matching schemas/openapi.yaml."""
