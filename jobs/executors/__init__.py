"""Executors run attempts. Keep this package free of Django imports at module level:
the local launcher (``python -m jobs.executors.launcher``) must start fast."""
