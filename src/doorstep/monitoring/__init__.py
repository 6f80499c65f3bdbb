"""Monitoring: what decisions look like over time against what the model was built on.

Pure computations over windows of decisions; jobs that read the store and raise alerts call
them. Drift and data quality: :mod:`doorstep.monitoring.drift` (results and thresholds in
:mod:`~doorstep.monitoring.drift_report`, reference profiles in
:mod:`~doorstep.monitoring.profile`, batch reading in :mod:`~doorstep.monitoring.tally`,
statistical kernels in :mod:`~doorstep.monitoring.stats`).
"""
