"""The web pages of jobs, datasets and models: views, forms, live fragments, charts, downloads."""
