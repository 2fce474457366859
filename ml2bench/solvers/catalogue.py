"""The built-in solvers: name → ``"module:Class"`` and description (imports no torch).

This table is the one home of each solver's description; :func:`register_solver`
gives the class its ``description`` from here. A solver module is imported only when
a run builds one of its solvers (:func:`ml2bench.solvers.registry.make_solver`).
"""

from ml2bench.catalogue import Entry, catalogue

SOLVERS = catalogue(
    Entry("sgd", "ml2bench.solvers.baselines:SGD",
          "stochastic gradient descent with optional (Nesterov) momentum"),
    Entry("adam", "ml2bench.solvers.baselines:Adam", "Adam, adaptive moment estimation"),
    Entry("adamw", "ml2bench.solvers.baselines:AdamW", "Adam with decoupled weight decay"),
    Entry("lbfgs", "ml2bench.solvers.baselines:LBFGS",
          "L-BFGS with strong-Wolfe line search (full batch)"),
    Entry("tr", "ml2bench.solvers.trust_region:TrustRegion",
          "trust region: Steihaug-Toint CG on exact HVPs, L-SR1 or Cauchy point"),
    Entry("rmtr", "ml2bench.solvers.rmtr:RMTR",
          "recursive multilevel trust region (V/F-cycles, coherent coarse models)"),
    Entry("mgopt", "ml2bench.solvers.mgopt:MGOpt",
          "MG/OPT (Nash 2000): coherent coarse objectives, line search on corrections"),
    Entry("aspqn", "ml2bench.solvers.schwarz_lbfgs:ASPQN",
          "additive Schwarz-preconditioned L-BFGS: parallel layer-subdomain L-BFGS solves"),
    Entry("mspqn", "ml2bench.solvers.schwarz_lbfgs:MSPQN",
          "multiplicative Schwarz-preconditioned L-BFGS: layer subdomains in sequence"),
    Entry("apts_d", "ml2bench.solvers.apts:APTSD",
          "APTS, data decomposition: local TR steps on consistent shard objectives, summed"),
    Entry("apts_p", "ml2bench.solvers.apts:APTSP",
          "APTS, parameter decomposition: local TR steps on parameter subdomains, summed"),
    Entry("mmg", "ml2bench.solvers.monotone_mg:MonotoneMultigrid",
          "monotone multigrid (Kornhuber 1994): projected Gauss-Seidel, monotone coarse obstacles"),
    Entry("tnnmg", "ml2bench.solvers.monotone_mg:TNNMG",
          "truncated nonsmooth Newton multigrid: projected GS, linear MG on the inactive set"),
    Entry("pgd", "ml2bench.solvers.projected:SPG",
          "spectral projected gradient (Barzilai-Borwein steps, nonmonotone line search)"),
    Entry("nested", "ml2bench.solvers.nested:NestedIteration",
          "nested iteration: train coarse, prolongate, continue finer (any inner solver)"),
)
