"""Use cases, one package per thing a user does with doorstep.

- :mod:`~doorstep.services.apps`: load an app (spec, model, reference data) and the registry of
  the apps a server hosts; create the example apps.
- :mod:`~doorstep.services.decide`: the one decision path (validate → predict → decide →
  explain) and its online form, feature lookups, what-if.
- :mod:`~doorstep.services.runs`: batch decisions from record files and feature sources.
- :mod:`~doorstep.services.deliver`: which actions go to the outbox, the connectors that carry
  them, the dispatcher that sends them, and the operators' commands.
- :mod:`~doorstep.services.review`: reviewers' verdicts and the review queue.
- :mod:`~doorstep.services.outcomes`: what really happened, from API bodies and files, and
  training data.
- :mod:`~doorstep.services.monitor`: the monitoring report (quality, ROI, drift, attribution),
  alerts and the dashboard's figures.
- :mod:`~doorstep.services.governance`: API keys and the audit trail.

Services take the store through its protocols and never import the web or the command line.
"""
