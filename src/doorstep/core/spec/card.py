"""The spec's ``card``: the text of the model card that the spec alone can say (see
docs/card.md). Everything else on the card (owner, versions, inputs, reference data, quality,
drift, ROI, fairness) is read from the spec, the store and the reference data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["CardSpec"]


class CardSpec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )

    intended_use: str = ""
    """What the model is for and who acts on its decisions, e.g. ``Choose which customers get
    a retention offer; operations staff review borderline cases.``"""
    out_of_scope: str = ""
    """Uses it was not built or checked for, e.g. ``Pricing, credit or any decision about
    people who are not customers yet.``"""
    limitations: str = ""
    """What is known to make it worse: data it has not seen, groups it serves less well."""
    training_data: str = ""
    """Where the training data came from and when (the reference sample is summarised on
    the card from the file itself)."""
    ethical_considerations: str = ""
    """Risks to people and how they are handled (review band, control group, fairness)."""
