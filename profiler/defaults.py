"""The inputs a model gets when the caller gives none, per family, and the sizes
its published figures were counted at.  Plain values, no imports: `profile --help`
states them without torch."""

# per sample; an image model of no family below (and a user's own model): AlexNet's
# input, 224 in its paper's text and 227 in its arithmetic
DEFAULT_IMAGE = (3, 227, 227)

FAMILY_DEFAULTS = {
    "segmentation": (3, 520, 520),   # the published weights' resize size
    "detection": (3, 480, 640),      # one VGA image; the model's transform resizes it
    "optical_flow": (3, 368, 496),   # a Sintel-sized frame pair, divisible by 8
}

# detection weights have no crop size: their published _ops were counted on one
# 512x512 image (which the model's transform resizes, to 800x800 for most)
NATIVE_DETECTION = (3, 512, 512)

# elements: the largest input made with values on a meta model (real CPU tensors that
# the meta forward carries: profiler.capture.known), e.g. a 2048 x 2048 mask; larger
# floating inputs are made as meta tensors, with no values
VALUE_LIMIT = 1 << 22

# token ids per sample: an hf: text model's prefill when tokens= is not given, and the
# input of a model whose first layer is an embedding
TOKENS_DEFAULT = 128
