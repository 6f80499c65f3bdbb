"""Monitoring: what decisions look like over time against what the model was built on.

Pure computations over windows of decisions; jobs that read the store and raise alerts call
them. Drift and data quality: :mod:`doorstep.monitoring.drift` (reference profiles in
:mod:`doorstep.monitoring.profile`, statistical kernels in :mod:`doorstep.monitoring.stats`).
"""
