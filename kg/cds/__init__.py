"""The CDS Hooks service: imaging appropriateness where the order is placed (order-select, order-sign).

Wire models (models), the domain-to-card mapping (cards), the hook call (service), the patient's
record (prefetch), trust (auth), the log (feedback) and the ASGI app (app.create_app).
"""
