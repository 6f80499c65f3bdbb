"""Statistics of monitoring: what decisions look like over time against what the model was built
on, and what they are worth. Pure computations over windows of decisions (numbers and columns
in, results out); :mod:`doorstep.services.monitor` reads the store and calls them.

- drift and data quality: :mod:`.drift` (results and thresholds in :mod:`.drift_report`,
  reference profiles in :mod:`.profile`, batch reading in :mod:`.tally`, statistical kernels
  in :mod:`.kernels`);
- live quality: :mod:`.quality`; ROI against the control group: :mod:`.roi`; the confidence
  intervals both use: :mod:`.intervals`.
"""
