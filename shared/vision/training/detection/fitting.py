"""Fitting the detection network: the optimiser, its schedule, the weight average and the loop.

AdamW with two learning rates (the pretrained backbone blocks slower than the new neck and head)
and weight decay on weights only; a linear warm-up from a tenth of the rate over the first tenth
of the steps (at most 50), then a cosine decay to 5 %; gradients clipped at norm 10. What is kept
is not the last weights but an exponential moving average of them (:class:`ModelEMA`), which
smooths the noise of small batches. With a budget,
:class:`~shared.vision.training.budget.StepPlanner` cuts (or restores) the step count from the
measured step times, and the schedule follows the new count.
"""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import torch
from torch import nn

from shared.vision.training.budget import StepPlanner, TimeBudget
from shared.vision.training.dataset import Progress
from shared.vision.training.detection.augment import colour_jitter
from shared.vision.training.detection.data import Batcher
from shared.vision.training.detection.losses import detection_loss
from shared.vision.training.detection.network import DetectionNet, Points, points
from shared.vision.training.detection.recipes import Recipe

__all__ = ["ModelEMA", "ema_decay", "lr_factor", "make_optimizer", "train", "train_one_step"]

log = logging.getLogger(__name__)

_WEIGHT_DECAY = 0.05
_MAX_GRAD_NORM = 10.0
_MAX_WARMUP_STEPS = 50
# A budgeted fit plans its steps to end this long before its deadline (seconds, plus a share of
# the budget): room for steps slower than the median the planner counts with, and for wrapping up.
_RESERVE_SECONDS, _RESERVE_SHARE = 1.0, 0.02
_LOG_EVERY = 25


class ModelEMA:
    """Exponential moving average of the weights (and BN buffers), warming up from 0."""

    def __init__(self, model: DetectionNet, decay: float) -> None:
        self.model: DetectionNet = copy.deepcopy(model).eval()
        self.decay = decay
        self.updates = 0
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        src = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(d).add_(src[name].detach(), alpha=1 - d)
            else:
                value.copy_(src[name])


def ema_decay(total_steps: int) -> float:
    """An average over roughly the last 5 % of the steps (at most the last 500)."""
    return min(0.998, 1.0 - 20.0 / max(total_steps, 40))


def lr_factor(step: int, total: int, warmup: int) -> float:
    """The learning rate's multiplier at ``step``: linear warm-up from 0.1, then cosine to 0.05."""
    if step < warmup:
        return 0.1 + 0.9 * step / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(net: nn.Module, recipe: Recipe) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, grouped by (in the backbone, is a weight)."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in net.named_parameters():
        if p.requires_grad:
            groups.setdefault((name.startswith("backbone."), p.ndim > 1), []).append(p)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "base_lr": recipe.backbone_lr if in_backbone else recipe.lr,
                "weight_decay": _WEIGHT_DECAY if is_weight else 0.0,
            }
            for (in_backbone, is_weight), params in sorted(groups.items())
        ],
        lr=recipe.lr,
    )


def _set_learning_rate(optimizer: torch.optim.Optimizer, step: int, total: int) -> None:
    warmup = min(_MAX_WARMUP_STEPS, max(1, total // 10))
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * lr_factor(step, total, warmup)


def train_one_step(
    net: DetectionNet, optimizer: torch.optim.Optimizer, ema: ModelEMA, batches: Batcher, geometry: Points
) -> tuple[float, dict[str, float]]:
    """Draw a batch, take one optimiser step, update the average; the loss and its parts."""
    samples = batches.next()
    x = torch.from_numpy(np.stack([s.pixels for s in samples])).permute(0, 3, 1, 2).float()
    x = x.contiguous(memory_format=torch.channels_last)
    x = colour_jitter(x, batches.policy, batches.rng)
    cls, reg = net(x)
    loss, parts = detection_loss(cls, reg, geometry, samples)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # type: ignore[no-untyped-call]
    torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], _MAX_GRAD_NORM)
    optimizer.step()
    ema.update(net)
    return float(loss.detach()), parts


def _planner(budget: TimeBudget, total: int) -> StepPlanner:
    if budget.seconds is None:
        return StepPlanner(budget, total)
    return StepPlanner(budget.less(_RESERVE_SECONDS + _RESERVE_SHARE * budget.seconds), total)


def train(
    net: DetectionNet, batches: Batcher, recipe: Recipe, total: int, budget: TimeBudget, report: Progress
) -> tuple[DetectionNet, int]:
    """Up to ``total`` steps within ``budget`` (see the module docstring): the averaged network,
    in eval mode, and the steps taken."""
    geometry = points(batches.size)
    optimizer = make_optimizer(net, recipe)
    ema = ModelEMA(net, ema_decay(total))
    planner = _planner(budget, total)
    net.train()
    step = 0
    while step < total:
        started = budget.clock()
        planned = planner.replan(step, total, started)
        if planned != total:
            log.info("detector fit: budget allows %d of %d steps", planned, planner.wanted)
            total, ema.decay = planned, ema_decay(planned)
        if not planner.affords_next(started):
            log.info("detector fit: stopping at step %d of %d (budget)", step, total)
            break
        _set_learning_rate(optimizer, step, total)
        loss, parts = train_one_step(net, optimizer, ema, batches, geometry)
        step += 1
        took = budget.clock() - started
        planner.record(took)
        if step % _LOG_EVERY == 0 or step == total:
            log.info(
                "detector step %d/%d loss %.3f (qfl %.3f giou %.3f dfl %.3f) %.2fs/step",
                step,
                total,
                loss,
                parts["qfl"],
                parts["giou"],
                parts["dfl"],
                took,
            )
        report("train", min(1.0, step / total))
    return ema.model.eval(), step
