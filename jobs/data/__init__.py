"""Data users bring: upload and row checks, content-addressed storage, previews."""
