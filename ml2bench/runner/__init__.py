"""Run specifications, the run loop, sweeps and the results store."""
