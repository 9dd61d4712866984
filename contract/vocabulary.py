"""Fixed vocabularies of the data contract: the channels and dispositions a contact can have."""

from __future__ import annotations

CHANNELS: tuple[str, ...] = ("phone", "chat", "email", "social", "self_service")

# Dispositions a contact can end with. `abandoned`: the customer left the queue before an agent
# answered; `dropped`: the line broke while talking (usually followed by a call back within seconds).
DISPOSITIONS: tuple[str, ...] = ("handled", "abandoned", "dropped", "transferred")
