"""Energy samplers, timers, the idle baseline and the environment snapshot."""
