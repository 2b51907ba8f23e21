"""Sub-commands of the ``evenhand`` CLI: each public module here has ``register(app)``."""
