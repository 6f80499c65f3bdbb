"""Delivering actions: which actions of which decisions go to the outbox (:mod:`.actions`), the
dispatcher that sends them through their connectors (:mod:`.dispatcher`), the operators'
commands on the outbox (:mod:`.operations`), and payload templates checked when the spec is
(:mod:`.template_check`)."""
