"""Batch runs: a record file streamed through the decision path (:mod:`.files`, ``doorstep
score``) and every entity of a feature source decided resumably (:mod:`.sources`, ``doorstep
score --from`` and scheduled runs)."""
