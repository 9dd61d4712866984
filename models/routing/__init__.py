"""Routing policies replayed on the test window: capacity-respecting assignments, doubly robust FCR estimates."""
