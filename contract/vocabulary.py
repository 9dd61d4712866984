"""Fixed vocabularies of the data contract: the channels and dispositions a contact can have."""

from __future__ import annotations

CHANNELS: tuple[str, ...] = ("phone", "chat", "email", "social", "self_service")

# Dispositions a contact can end with. `abandoned`: the customer left the queue before an agent
# answered; `dropped`: the line broke while talking (usually followed by a call back within seconds).
DISPOSITIONS: tuple[str, ...] = ("handled", "abandoned", "dropped", "transferred")

# The contract's columns (DESIGN.md "Data contract"). `agent_id` may be absent (no agents named):
# the contacts table then has it all missing and the stages that need agents say what they skipped.
REQUIRED: tuple[str, ...] = ("contact_id", "customer_id", "started_at", "channel", "reason_code", "agent_id")
OPTIONAL: tuple[str, ...] = ("ended_at", "team", "wait_s", "handle_s", "transfers", "disposition", "survey_resolved")
CONTRACT: tuple[str, ...] = REQUIRED + OPTIONAL
ABSENT_ALLOWED: tuple[str, ...] = ("agent_id",)
NUMERIC: tuple[str, ...] = ("wait_s", "handle_s", "transfers")  # parsed as numbers
