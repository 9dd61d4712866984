"""The bottom layer: the typed-config base and the expected errors, importing nothing of the project."""
