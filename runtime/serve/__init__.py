"""``durable-python serve``: a worker plus an HTTP API, webhooks, schedules and file triggers.

``starting.py`` is the one door every trigger starts runs through; ``api.py`` the HTTP API,
``webhooks.py``, ``schedules.py`` and ``file_triggers.py`` the triggers, ``server.py`` ties them
to a worker and an ASGI server.
"""
