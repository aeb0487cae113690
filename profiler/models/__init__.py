"""Models: resolving a name to a builder, meta builds, the name list, weights metadata,
Hugging Face and timm configs, torchvision detection on shapes, and the zoo."""
