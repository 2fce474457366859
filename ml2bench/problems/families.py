"""Imports every module that registers a problem family."""

from ml2bench.problems import digits, images, pinn, quadratic, resnet_toy  # noqa: F401
