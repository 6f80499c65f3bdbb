"""Conformance suites for plugin authors, in the spirit of scikit-learn's ``check_estimator``:

- :func:`check_model_adapter` for model adapters (``doorstep.models`` entry points);
- :func:`check_connector` for delivery connectors (``doorstep.connectors`` entry points);
- :func:`check_feature_source` for feature sources (``doorstep.sources`` entry points).

doorstep runs them over every built-in adapter, connector and source, exactly as a plugin's
tests would.
"""

from doorstep.testing.connectors import check_connector
from doorstep.testing.models import check_model_adapter
from doorstep.testing.sources import check_feature_source

__all__ = ["check_connector", "check_feature_source", "check_model_adapter"]
