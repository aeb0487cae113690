"""What-if transforms of a model: fold BatchNorm (fold_bn), make a classifier fully
convolutional (fully_conv); compare and whatif run and report them."""
