"""JSON-schema constraint of batched rows with xgrammar, shared by static and continuous batching."""

from __future__ import annotations

import torch


def constrain(logits: torch.Tensor, bitmask: torch.Tensor, matchers: list) -> None:
    """Mask each row of ``logits`` (on the CPU, in place) to the tokens its matcher allows next. A row whose
    matcher is None (no schema, or it stopped taking tokens) or terminated may take any token."""
    import xgrammar

    for i, matcher in enumerate(matchers):
        if matcher is not None and not matcher.is_terminated():
            matcher.fill_next_token_bitmask(bitmask, i)
        else:
            bitmask[i].fill_(-1)
    xgrammar.apply_token_bitmask_inplace(logits, bitmask)
