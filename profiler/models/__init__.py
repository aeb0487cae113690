"""Models: resolving a name to a builder, meta builds, the name list, weights metadata,
Hugging Face and timm configs, and the zoo.  Imports nothing from the later stages."""
