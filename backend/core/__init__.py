"""Infrastructure every layer may use: errors, events, cancellation, config, output files, threads, the motion file."""
