"""AlexNet as in Krizhevsky, Sutskever and Hinton (2012), "ImageNet Classification with Deep
Convolutional Neural Networks": 96/256/384/384/256 kernels, the two GPUs' split kept as
``groups=2`` in conv2, conv4 and conv5 (conv3 and the fully connected layers connect across
the GPUs), local response normalisation after conv1 and conv2, overlapping max-pooling, and
a 227×227 input (224 in the paper's text; 227 is what gives its 55×55 first maps).

conv1 3→96 k11 s4 (no padding) · ReLU · LRN · max-pool 3/2 ·
conv2 96→256 k5 p2 g2 · ReLU · LRN · max-pool 3/2 ·
conv3 256→384 k3 p1 · conv4 384→384 k3 p1 g2 · conv5 384→256 k3 p1 g2, each with ReLU · max-pool 3/2 ·
dropout · fc 9216→4096 · ReLU · dropout · fc 4096→4096 · ReLU · fc 4096→1000.
60,965,224 parameters (the paper: "60 million").

The paper's LRN is b = a / (k + α·Σ a²)^β with k = 2, n = 5, α = 1e-4, β = 0.75; PyTorch's
``nn.LocalResponseNorm`` divides its ``alpha`` by ``size``, so the paper's α is ``alpha=5e-4``
here (the counts do not depend on it).  The homework's AlexNet of the hand count is
``alexnet_homework``.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

from profiler.models.zoo.alexnet_homework import classifier

LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 5, 1e-4, 0.75, 2.0   # the paper's n, α, β, k


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(LRN_SIZE, alpha=LRN_SIZE * LRN_ALPHA, beta=LRN_BETA, k=LRN_K)


class AlexNet2012(nn.Module):
    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 96, kernel_size=11, stride=4)), ("relu1", nn.ReLU(inplace=True)),
            ("lrn1", _lrn()), ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2)), ("relu2", nn.ReLU(inplace=True)),
            ("lrn2", _lrn()), ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)), ("relu3", nn.ReLU(inplace=True)),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2)), ("relu4", nn.ReLU(inplace=True)),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2)), ("relu5", nn.ReLU(inplace=True)),
            ("pool3", nn.MaxPool2d(kernel_size=3, stride=2)),
        ]))
        self.flatten = nn.Flatten()
        self.classifier = classifier(num_classes)

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))


def alexnet2012(**kwargs) -> AlexNet2012:
    return AlexNet2012(**kwargs)
