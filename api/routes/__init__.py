"""The route modules, each with its declared endpoints and ``install(app, ctx)``."""

from api.routes import (backups, files, metrics, servers, signed, system, transfers,
                        websocket)

MODULES = (system, servers, backups, files, signed, websocket, metrics, transfers)
