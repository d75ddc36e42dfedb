"""callgrind baseline: nothing, so that start-up and shut-down costs cancel."""
