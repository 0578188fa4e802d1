"""The updater: write a trained sub-network back into the target network (PAPER.md item 6).

Parameters, batch-norm statistics and filter weights of the kept channels go back to their rows and
columns in the target; tensors that pruning does not touch (stem, classifier, shortcuts) are copied.
"""
from __future__ import annotations

import torch
from torch import nn

from jst.nets.prunable import Keep, assign, tensor_index


@torch.no_grad()
def write_back(target: nn.Module, sub: nn.Module, keep: Keep) -> None:
    index = tensor_index(target, keep)
    target_state = target.state_dict()
    for key, value in sub.state_dict().items():
        if key in index:
            assign(target_state[key], index[key], value)
        else:
            target_state[key].copy_(value)
