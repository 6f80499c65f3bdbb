"""Monitoring: the report of an app per window — live quality, overrides, ROI against the
control group (:mod:`.report`), drift (:mod:`.drift`) and attribution drift
(:mod:`.attribution`) — the alerts raised from it (:mod:`.alerts`, with what each subject looks
like in :mod:`.alert_observations` and what an alert says in :mod:`.alert_messages`), and the
dashboard's figures (:mod:`.dashboard`). The statistics themselves are pure, in
:mod:`doorstep.core.stats`."""
