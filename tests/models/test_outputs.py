"""What models' outputs mean: the positive class of a binary model."""

from __future__ import annotations

import pytest

from doorstep.errors import ModelError
from doorstep.models.outputs import positive_index


def test_the_positive_class_is_found_by_label_or_number() -> None:
    assert positive_index("model.txt", ["stayed", "churned"], None) == 1
    assert positive_index("model.txt", ["stayed", "churned"], "stayed") == 0
    assert positive_index("model.txt", ["0", "1"], "1.0") == 1


def test_an_unknown_positive_class_suggests_the_nearest() -> None:
    with pytest.raises(ModelError) as caught:
        positive_index("model.txt", ["stayed", "churned"], "churnd")
    assert caught.value.message.startswith(
        "'model.positive_class: churnd' is not a class of model.txt (did you mean 'churned'?); "
        "its classes are 'stayed', 'churned'."
    )
