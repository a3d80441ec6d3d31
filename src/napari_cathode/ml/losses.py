"""Dice + cross-entropy that ignores unlabeled voxels (truth 0).

MONAI's ``DiceCELoss`` has no ``ignore_index``; here cross-entropy uses torch's
``ignore_index`` and the soft Dice is MONAI's ``DiceLoss`` on probabilities and one-hot truth
both multiplied by the labelled mask, so label-0 voxels receive exactly zero gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss

IGNORE = -100


class MaskedDiceCELoss(torch.nn.Module):
    """Loss on logits ``(B, K, *spatial)`` and truth ``(B, *spatial)`` with 0 = unlabeled, 1..K.

    Parameters
    ----------
    dice_weight, ce_weight : float
        Weights of the two terms.
    """

    def __init__(self, *, dice_weight: float = 1.0, ce_weight: float = 1.0) -> None:
        super().__init__()
        self.dice_weight = dice_weight
        self.ce_weight = ce_weight
        # batch=True pools the Dice over the whole batch: sparse scribbles give too few voxels
        # per sample for a per-sample Dice.
        self.dice = DiceLoss(include_background=True, softmax=False, batch=True)

    def forward(self, logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        truth = truth.long()
        labelled = truth > 0
        if not bool(labelled.any()):
            return logits.sum() * 0.0
        target = torch.where(labelled, truth - 1, torch.full_like(truth, IGNORE))
        ce = F.cross_entropy(logits.float(), target, ignore_index=IGNORE)
        mask = labelled.unsqueeze(1).to(logits.dtype)
        probs = torch.softmax(logits.float(), dim=1) * mask
        onehot = F.one_hot((truth - 1).clamp(min=0), logits.shape[1]).movedim(-1, 1) * mask
        dice = self.dice(probs, onehot.float())
        return self.dice_weight * dice + self.ce_weight * ce
