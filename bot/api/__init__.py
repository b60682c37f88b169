"""The HTTP API's routers, one module per resource; `bot.api.routers` lists them for the app factory."""
