"""Statistics of monitoring: what decisions look like over time against what the model was built
on, and what they are worth. Pure computations over windows of decisions (numbers and columns
in, results out); :mod:`doorstep.services.monitor` reads the store and calls them.

- drift and data quality: :mod:`.drift` (results and thresholds in :mod:`.drift_report`,
  reference profiles in :mod:`.profile`, batch reading in :mod:`.tally`, statistical kernels
  in :mod:`.kernels`);
- live quality: :mod:`.quality` (results in :mod:`.quality_report`, statuses against the
  spec's thresholds in :mod:`.quality_status`); ROI against the control
  group: :mod:`.roi` (results in :mod:`.roi_report`); the confidence intervals both use:
  :mod:`.intervals`.

The result modules (``*_report`` and ``intervals``) import only the standard library: the
monitoring report (:class:`doorstep.types.MonitoringReport`) is made of them.
"""
