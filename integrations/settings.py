"""Options the integrations read while a script runs, set from the configuration (config.py).

Kept in a module of their own, with no imports, so that loading the configuration at every start
does not import the HTTP integration.
"""

send_idempotency_keys = (
    False  # HTTP requests carry Idempotency-Key: durable_python.idempotency_key()
)
