"""Masked reasons keep what drove the score and lose the value, in ``value`` and sentence."""

from __future__ import annotations

from doorstep.core.masking import MASK, mask_reasons

REGION = {
    "feature": "region", "label": "Region", "value": "south", "contribution": 0.2,
    "effect": 0.031, "sentence": "Region: south, raises churn risk by 3 points",
}  # fmt: skip
TICKETS = {
    "feature": "support_tickets_30d", "label": "Support tickets", "value": "7",
    "contribution": 0.5, "effect": 0.18,
    "sentence": "Support tickets: 7, raises churn risk by 18 points",
}  # fmt: skip


def test_only_hidden_features_lose_their_value() -> None:
    masked, kept = mask_reasons([REGION, TICKETS], {"region", "email"})
    assert masked["value"] == MASK and "south" not in str(masked)
    assert masked["sentence"] == "Region: ***, raises churn risk by 3 points"
    assert masked["effect"] == REGION["effect"] and masked["label"] == "Region"
    assert kept == TICKETS and REGION["value"] == "south"  # copies; the input is unchanged


def test_a_sentence_of_another_shape_loses_the_value_too() -> None:
    odd = {**REGION, "sentence": "In region south the risk is higher"}
    (masked,) = mask_reasons([odd], {"region"})
    assert masked["sentence"] == "In region *** the risk is higher"
