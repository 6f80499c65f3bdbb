"""Deciding: the one decision path on a columnar batch (:mod:`.batch`), its online form for API
requests (:mod:`.online`), inputs looked up by entity id (:mod:`.features`) and what would change
a decision (:mod:`.what_if`)."""
