"""Decompositions beside the transfers: data shards and parameter subdomains with
their restrictions and partition of unity, and the measured cost of a subdomain
gradient (the foundation of the domain-decomposition solvers)."""

from ml2bench.decomposition.base import IndexDecomposition
from ml2bench.decomposition.cost import (SubdomainView, subdomain_costs,
                                         subdomain_loss_and_grad)
from ml2bench.decomposition.data import DataDecomposition
from ml2bench.decomposition.parameters import ParameterDecomposition, model_layers

__all__ = ["IndexDecomposition", "DataDecomposition", "ParameterDecomposition",
           "model_layers", "SubdomainView", "subdomain_costs", "subdomain_loss_and_grad"]
