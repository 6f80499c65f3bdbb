"""Governance: API keys and their roles (:mod:`.keys`) and the audit trail (:mod:`.audit`)."""
