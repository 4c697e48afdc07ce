"""citeqa eval harness and benchmark: gold sets, metrics, runner, bench."""
