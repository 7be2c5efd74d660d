"""Energy samplers, timers, the idle baseline and the environment snapshot.

The package is also callable: `with llem.measure(gpus=None) as m: ...` is `llem.measure.window.measure`.
"""

from llem._callable import make_callable

make_callable(__name__, "llem.measure.window:measure")
