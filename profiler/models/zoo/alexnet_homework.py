"""The homework's AlexNet, single tower, the model of the hand count: torchvision's layout,
whose widths (64/192/384/256/256 kernels) follow Krizhevsky's 2014 "One weird trick for
parallelizing convolutional neural networks", with conv1 unpadded so that a 227×227 input
gives 55×55 (torchvision pads it by 2: 56×56).  Not the 2012 paper's network (96/256/384/384/256
kernels, two-GPU groups, local response normalisation): that one is ``alexnet2012``.

conv1 3→64 k11 s4 (no padding) · max-pool 3/2 · conv2 64→192 k5 p2 · max-pool ·
conv3 192→384, conv4 384→256, conv5 256→256, all k3 p1 · max-pool ·
fc 9216→4096→4096→1000, ReLU after every conv and hidden fc, dropout before fc1, fc2.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn


class AlexNetHomework(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 64, kernel_size=11, stride=4)), ("relu1", nn.ReLU(inplace=True)),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv2", nn.Conv2d(64, 192, kernel_size=5, padding=2)), ("relu2", nn.ReLU(inplace=True)),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv3", nn.Conv2d(192, 384, kernel_size=3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 256, kernel_size=3, padding=1)), ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(256, 256, kernel_size=3, padding=1)), ("relu5", nn.ReLU(inplace=True)),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),
        ]))
        self.flatten = nn.Flatten()
        self.classifier = classifier(num_classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def classifier(num_classes: int) -> nn.Sequential:
    """The head both AlexNets share: 256·6·6 → 4096 → 4096 → classes, dropout before
    the first two."""
    return nn.Sequential(OrderedDict([
        ("drop6", nn.Dropout()), ("fc1", nn.Linear(256 * 6 * 6, 4096)), ("relu6", nn.ReLU(inplace=True)),
        ("drop7", nn.Dropout()), ("fc2", nn.Linear(4096, 4096)), ("relu7", nn.ReLU(inplace=True)),
        ("fc3", nn.Linear(4096, num_classes)),
    ]))


def alexnet_homework(**kwargs) -> AlexNetHomework:
    return AlexNetHomework(**kwargs)
