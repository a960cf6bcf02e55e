"""``/openai/v1/``: the OpenAI API's fine-tuning and serving routes, over Hone's own domain.

A script written for a hosted fine-tuning API runs here with its ``base_url`` changed and a Hone
personal access token as its API key. Each route is a thin door: files are Hone datasets
(checked by ``jobs.data.datasets``), fine-tuning jobs are Hone training jobs created through the
one launch path (``jobs.launch.launch``), models are Hone models, and completions are generated
by the playground's loaded-model cache (``jobs.playground``). Errors have OpenAI's shape,
``{"error": {"message", "type", "param", "code"}}``, so the official client raises its own
exception types (``openai.BadRequestError``, ``openai.NotFoundError`` …).
"""
