"""Results → tables, figures and an HTML report.

- :mod:`ml2bench.report.ranking`: the one ranking rule of every output (``RULE``,
  ``rank_order``, ``best_mask``, ``rule_costs`` for the profiles);
- :mod:`ml2bench.report.leaderboard`: ``target_of``, ``final_rows``, ``time_to_target``,
  ``leaderboard`` (one row per problem and solver) and ``format_table`` (md/csv/latex);
- :mod:`ml2bench.report.summary`: ``summary_table`` (the report's conclusion per problem);
- :mod:`ml2bench.report.families`: ``family_of`` (from the solver classes) and
  ``solver_styles`` (Okabe–Ito colours, line style and marker per family);
- :mod:`ml2bench.report.profiles`: ``performance_ratios``, ``profile``,
  ``integrated_score``, ``measure_tables`` (Dolan–Moré profiles, AlgoPerf's score);
- :mod:`ml2bench.report.plots`: ``problem_figure``, ``plot_problem``, ``plot_all``
  (convergence PNGs, matplotlib Agg);
- :mod:`ml2bench.report.levels`: ``level_tables`` (per-level diagnostics of multilevel
  runs); :mod:`ml2bench.report.environment`: ``environments`` (who produced which runs)
  and ``mixed_environments`` (a results folder mixing numerics environments);
- :mod:`ml2bench.report.html`: ``write_report`` (the report folder: tables, PNGs,
  ``index.html``).

Importing this package does not import matplotlib; :mod:`plots`, :mod:`profiles` and
:mod:`html` import it only when a figure is drawn.
"""

from ml2bench.report.leaderboard import (  # noqa: F401
    final_rows,
    leaderboard,
    target_of,
    time_to_target,
)
from ml2bench.report.tables import format_table  # noqa: F401
