"""No models. The module exists so that Django sends `post_migrate` for this app (it skips apps
without one), which is when the role groups are ensured (see roles.py)."""
