"""Review: a person's verdict on a decision sent for review (:mod:`.verdicts`) and the queue as
reviewers work it, with claims and SLAs (:mod:`.queue`)."""
