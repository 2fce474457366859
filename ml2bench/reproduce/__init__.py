"""Reproduction of published claims: ``ml2bench reproduce``.

The claims manifest ``paper/claims.toml`` (:mod:`.manifest`) names, per published
claim, its citation, the published values, the metric and the configurations that test
it at the paper's scale (``full``) and at a ``quick`` scale for two CPU cores. The runs
go through the ordinary runner (:mod:`.runs`); each claim's value is a pure function of
the results rows (:mod:`.claims`); the verdict follows the rule and tolerance stated in
the manifest. Results are written to ``paper/results/<ID>.<scale>.json``, into a
delimited ``[claim.result]`` block of the manifest (:mod:`.results`), drawn in the
paper's form (:mod:`.figures`) and tabulated in ``paper/claims.md`` (:mod:`.markdown`).
"""
