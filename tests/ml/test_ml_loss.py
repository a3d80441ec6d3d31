"""The masked loss: unlabeled voxels (truth 0) get no gradient and do not change the loss."""

from __future__ import annotations

import torch

from napari_cathode.ml.losses import MaskedDiceCELoss

torch.set_num_threads(2)


def _logits_and_truth(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 3, 16, 16, generator=gen, requires_grad=True)
    truth = torch.randint(0, 4, (2, 16, 16), generator=gen)
    return logits, truth


def test_unlabeled_voxels_get_zero_gradient():
    logits, truth = _logits_and_truth()
    MaskedDiceCELoss()(logits, truth).backward()
    unlabeled = (truth == 0).unsqueeze(1).expand_as(logits)
    assert unlabeled.any() and (~unlabeled).any()
    assert torch.all(logits.grad[unlabeled] == 0)
    assert logits.grad[~unlabeled].abs().sum() > 0


def test_logits_under_unlabeled_voxels_do_not_change_the_loss():
    logits, truth = _logits_and_truth(1)
    loss = MaskedDiceCELoss()(logits, truth)
    changed = logits.detach().clone()
    changed[(truth == 0).unsqueeze(1).expand_as(changed)] = 50.0
    assert torch.isclose(MaskedDiceCELoss()(changed, truth), loss.detach())


def test_better_prediction_on_labelled_voxels_lowers_the_loss():
    _, truth = _logits_and_truth(2)
    onehot = torch.nn.functional.one_hot((truth - 1).clamp(min=0), 3).movedim(-1, 1).float()
    good, bad = onehot * 8.0, (1 - onehot) * 8.0
    assert MaskedDiceCELoss()(good, truth) < MaskedDiceCELoss()(bad, truth)


def test_all_unlabeled_batch_gives_zero_loss_and_gradient():
    logits = torch.randn(1, 3, 8, 8, requires_grad=True)
    loss = MaskedDiceCELoss()(logits, torch.zeros(1, 8, 8, dtype=torch.long))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.all(logits.grad == 0)


def test_non_contiguous_class_ids_map_to_their_channels():
    """Classes 1, 2, 5 (a user deleted classes 3 and 4): truth 5 is the third channel."""
    ids = (1, 2, 5)
    truth = torch.tensor([[[1, 2], [5, 0]]])
    channel = {1: 0, 2: 1, 5: 2}
    onehot = torch.zeros(1, 3, 2, 2)
    for (y, x), value in zip([(0, 0), (0, 1), (1, 0)], [1, 2, 5], strict=True):
        onehot[0, channel[value], y, x] = 1.0
    right, wrong = onehot * 8.0, onehot.roll(1, dims=1) * 8.0
    loss = MaskedDiceCELoss(class_ids=ids)
    assert loss(right, truth) < 0.1 < loss(wrong, truth)
