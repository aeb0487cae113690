"""Capture: one shapes-only forward of the model, every module call and aten op recorded.

record (the calls and ops), metacache (fast meta kernels), known (values carried
through a meta forward), bounded (torchvision detection on shapes), twins (stand-ins
for the model's tensors), inputs (the caller's arguments checked, dummy inputs made)
and session (one forward in meta, fake or real mode, with every state put back)."""
