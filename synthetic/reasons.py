"""The reason catalogue of the built-in synthetic contact centre: ~40 codes in 8 families, each with
a difficulty (logit shift of the chance that a contact is not resolved). Synthetic data only: a real
export brings its own codes and families (ingest.files in params.yaml)."""

from __future__ import annotations

# family -> [(code, label, difficulty)]
REASONS: dict[str, list[tuple[str, str, float]]] = {
    "billing": [
        ("BIL-01", "Bill higher than expected", 0.30),
        ("BIL-02", "Explain charges", -0.20),
        ("BIL-03", "Duplicate charge", 0.45),
        ("BIL-04", "Change billing address", -0.60),
        ("BIL-05", "Invoice copy", -0.80),
    ],
    "payments": [
        ("PAY-01", "Payment failed", 0.35),
        ("PAY-02", "Refund status", 0.55),
        ("PAY-03", "Update card", -0.70),
        ("PAY-04", "Direct debit setup", -0.30),
        ("PAY-05", "Payment plan request", 0.25),
    ],
    "technical": [
        ("TEC-01", "No service", 0.90),
        ("TEC-02", "Slow connection", 0.75),
        ("TEC-03", "Device setup", 0.20),
        ("TEC-04", "App login problem", 0.10),
        ("TEC-05", "Intermittent fault", 1.10),
        ("TEC-06", "Error message", 0.40),
    ],
    "account": [
        ("ACC-01", "Password reset", -0.90),
        ("ACC-02", "Change personal details", -0.70),
        ("ACC-03", "Add user", -0.40),
        ("ACC-04", "Close account", 0.15),
        ("ACC-05", "Security concern", 0.50),
    ],
    "orders": [
        ("ORD-01", "Order status", -0.50),
        ("ORD-02", "Change order", 0.05),
        ("ORD-03", "Cancel order", -0.20),
        ("ORD-04", "Missing item", 0.45),
        ("ORD-05", "Wrong item", 0.40),
    ],
    "delivery": [
        ("DEL-01", "Where is my parcel", -0.10),
        ("DEL-02", "Missed delivery", 0.20),
        ("DEL-03", "Damaged parcel", 0.50),
        ("DEL-04", "Change delivery slot", -0.45),
        ("DEL-05", "Engineer visit", 0.70),
    ],
    "returns": [
        ("RET-01", "Start a return", -0.40),
        ("RET-02", "Return not received", 0.55),
        ("RET-03", "Exchange", 0.10),
        ("RET-04", "Warranty claim", 0.65),
    ],
    "contract": [
        ("CON-01", "Upgrade plan", -0.30),
        ("CON-02", "Downgrade plan", 0.00),
        ("CON-03", "Cancel contract", 0.45),
        ("CON-04", "Contract terms question", -0.15),
        ("CON-05", "Complaint", 1.00),
    ],
}

REASON_FAMILY: dict[str, str] = {code: fam for fam, codes in REASONS.items() for code, _, _ in codes}
