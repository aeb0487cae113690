"""Models the profiler ships besides torchvision's, and the old names kept for one release."""
from profiler.models.zoo.alexnet2012 import AlexNet2012, alexnet2012
from profiler.models.zoo.alexnet_homework import AlexNetHomework, alexnet_homework

BUILTIN = {"alexnet2012": alexnet2012, "alexnet_homework": alexnet_homework}

# an old name: (the built-in it resolves to, the note its report carries); not listed by `profiler list`
ALIASES = {"alexnet_paper": ("alexnet_homework", "alexnet_paper is renamed alexnet_homework; the 2012 paper's "
                                                 "network is alexnet2012; the alias goes in the next release")}

__all__ = ["AlexNet2012", "alexnet2012", "AlexNetHomework", "alexnet_homework", "BUILTIN", "ALIASES"]
