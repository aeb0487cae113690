"""Models the profiler ships besides torchvision's."""
from profiler.models.zoo.alexnet_paper import AlexNetPaper, alexnet_paper

BUILTIN = {"alexnet_paper": alexnet_paper}

__all__ = ["AlexNetPaper", "alexnet_paper", "BUILTIN"]
