"""Delivering actions: which actions of which decisions go to the outbox (:mod:`.actions`), the
connectors that carry them (:mod:`.connectors`, payload templates checked with the spec by
:mod:`.template_check`), the dispatcher that sends them (:mod:`.dispatcher`), and the operators'
commands on the outbox (:mod:`.operations`)."""
