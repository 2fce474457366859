"""Hierarchies of models: levels, transfers (depth and grid) and measured costs."""

from ml2bench.hierarchy.base import Hierarchy, Level, LevelCost, Transfer
from ml2bench.hierarchy.depth import DepthTransfer, coarse_depths
from ml2bench.hierarchy.grid import GridTransfer, coarse_sizes

__all__ = ["Hierarchy", "Level", "LevelCost", "Transfer", "DepthTransfer", "GridTransfer",
           "coarse_depths", "coarse_sizes"]
