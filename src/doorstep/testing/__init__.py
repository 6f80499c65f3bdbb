"""Conformance suites for plugin authors, in the spirit of scikit-learn's ``check_estimator``:

- :func:`check_model_adapter` for model adapters (``doorstep.models`` entry points);
- :func:`check_connector` for delivery connectors (``doorstep.connectors`` entry points).

doorstep runs both over every built-in adapter and connector, exactly as a plugin's tests would.
"""

from doorstep.testing.connectors import check_connector
from doorstep.testing.models import check_model_adapter

__all__ = ["check_connector", "check_model_adapter"]
