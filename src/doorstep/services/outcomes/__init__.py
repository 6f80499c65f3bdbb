"""Outcomes: what really happened after decisions, from API bodies and files (:mod:`.ingest`,
rows checked by :mod:`.rows`), decisions joined with outcomes as training data
(:mod:`.training`), and the demo's simulated outcomes (:mod:`.example`)."""
