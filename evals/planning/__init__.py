"""Planning evaluations: the replenishment backtest (`python -m evals.planning.backtest`)."""
