"""The same shape laid out in memory several ways, for checks of meta shortcuts against kernels."""
import torch


def layouts(shape, dtype, expanded: bool = False):
    """The shape as contiguous, channels-last, reversed-stride, sliced and permuted tensors
    on meta; ``expanded`` adds a broadcast one (a stride of 0 on the first dimension)."""
    yield torch.empty(shape, device="meta", dtype=dtype)
    if len(shape) == 4:
        yield torch.empty(shape, device="meta", dtype=dtype).contiguous(memory_format=torch.channels_last)
    if len(shape) >= 2:
        yield torch.empty(shape[::-1], device="meta", dtype=dtype).permute(*reversed(range(len(shape))))
        yield torch.empty((*shape[:-1], 2 * shape[-1]), device="meta", dtype=dtype)[..., ::2]
        if expanded:
            yield torch.empty((1, *shape[1:]), device="meta", dtype=dtype).expand(shape)
    if len(shape) >= 3:
        yield torch.empty((shape[0], shape[2], shape[1], *shape[3:]), device="meta", dtype=dtype).transpose(1, 2)
