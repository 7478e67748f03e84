"""Networks: linear and MLP for feature data; a small CNN, ResNet-32 and ResNet-18 for images.

ResNet-32 is the CIFAR-LT standard (He et al. 2016, section 4.2: 3 stages of 5 basic blocks with
16/32/64 channels, option-A shortcuts), as used by the LDAM and balanced-softmax papers.
ResNet-18 is torchvision's, built without downloading weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lossbench.config.schema import FEATURE_MODELS, IMAGE_MODELS, ModelConfig
from lossbench.errors import UserError
from torch import nn


def mlp(in_features: int, num_classes: int, hidden: int) -> nn.Module:
    """Two hidden ReLU layers with batch norm; flattens image inputs."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


def small_cnn(num_classes: int, width: int) -> nn.Module:
    """Three blocks of two 3×3 convolutions (width, 2·width, 4·width), pooling, a linear head."""
    layers: list[nn.Module] = []
    cin = 3
    for block in range(3):
        cout = width * 2**block
        layers += _conv_bn(cin, cout) + _conv_bn(cout, cout)
        layers.append(nn.MaxPool2d(2, ceil_mode=True) if block < 2 else nn.AdaptiveAvgPool2d(1))
        cin = cout
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin, num_classes))


class _BasicBlock(nn.Module):
    """Two 3×3 convolutions with an option-A (zero-padded, strided identity) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.pad:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + shortcut)


class ResNet32(nn.Module):
    """ResNet-32 for small images: 3 stages × 5 blocks, 16/32/64 channels, global pooling."""

    def __init__(self, num_classes: int, blocks_per_stage: int = 5) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 16))
        stages, cin = [], 16
        for stage, cout in enumerate((16, 32, 64)):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                stages.append(_BasicBlock(cin, cout, stride))
                cin = cout
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return self.head(F.adaptive_avg_pool2d(out, 1).flatten(1))


class NormedLinear(nn.Module):
    """Cosine logits: z_c = <x/|x|, w_c/|w_c|> in [-1, 1] (LDAM's reference ``NormedLinear``)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-1, 1))
        self.weight.data.renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def with_cosine_head(model: nn.Module) -> nn.Module:
    """``model`` with its last ``nn.Linear`` replaced by a :class:`NormedLinear` of the same shape."""
    parent, name, last = None, None, None
    for module_name, module in model.named_modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear):
                parent, name, last = module, child_name, child
    if last is None:
        raise UserError("the model has no linear layer to replace with a cosine head")
    setattr(parent, name, NormedLinear(last.in_features, last.out_features))
    return model


def resnet18(num_classes: int) -> nn.Module:
    """torchvision's ResNet-18 with random initialisation (weights=None: nothing downloaded)."""
    from torchvision.models import resnet18 as tv_resnet18

    return tv_resnet18(weights=None, num_classes=num_classes)


def model_name_for(kind: str, config: ModelConfig, override: str | None = None) -> str:
    """The model a dataset of ``kind`` uses: the dataset's override, else the suite's choice."""
    name = override or (config.features if kind == "features" else config.images)
    allowed = FEATURE_MODELS if kind == "features" else IMAGE_MODELS
    if name not in allowed:
        raise UserError(f"model {name!r} cannot take {kind} data; models for {kind}: "
                        f"{', '.join(allowed)}")
    return name


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int,
                config: ModelConfig) -> nn.Module:
    """The network ``name`` for inputs of ``input_shape`` (without the batch dimension)."""
    if name in ("linear", "mlp"):
        in_features = 1
        for size in input_shape:
            in_features *= int(size)
        if name == "linear":
            return nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))
        return mlp(in_features, num_classes, config.hidden)
    if len(input_shape) != 3 or input_shape[0] != 3:
        raise UserError(f"model {name!r} needs images of shape (3, H, W), got {input_shape}")
    if name == "small_cnn":
        return small_cnn(num_classes, config.width)
    if name == "resnet32":
        return ResNet32(num_classes)
    if name == "resnet18":
        return resnet18(num_classes)
    raise UserError(f"unknown model {name!r}; allowed: {', '.join(sorted(set(IMAGE_MODELS)))}")
