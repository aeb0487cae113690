"""Backward formulas: the arithmetic of loss.backward(), layer by layer, from
shapes; one file per group, named as its forward file (``conv.py`` beside
``forward/conv.py``), holding the group's cost functions and their
``module_backward`` / ``op_backward`` registrations (see ``registry``).

Conventions (with those of the forward formulas: a subtraction is an addition;
comparisons, divisions and transcendental functions are ``other``; MACs are the
multiply-accumulates of dot products and a subset of mults):

* the loss depends on every output; each layer receives its output gradient g and
  computes the gradient of every input that requires grad, and of its weights
  and bias when they require grad.  An input that needs no gradient, as the raw
  image fed to the first layer, gets none: its layer skips that product;
* gradients of a tensor read by several ops (residual branches, a shared input)
  are summed by autograd; those accumulation additions are not counted;
* a gradient reduced over broadcast dimensions (a bias, an expand) costs the
  additions of that sum (``cost.sum_to_cost``); routing a gradient back through a
  view, copy, cat, index or mask costs nothing;
* piecewise functions (ReLU, hardswish, ...) are counted on their costlier branch
  for every element, so counts do not depend on the data;
* saved forward values are reused as autograd saves them (σ(x) is recomputed
  where autograd saves only x, as for SiLU).
"""
