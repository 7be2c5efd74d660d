"""The backend kit: what every backend would otherwise write itself, written once in the core.

Model path resolution, precision → dtype names, decoder intent (greedy, fixed length, what is applied and
what is ignored), escape-hatch bookkeeping, world-size checks, and latency maths from per-step times. Pure
functions on the experiment config; heavy libraries are imported only inside the functions that need them.
"""
