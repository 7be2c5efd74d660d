"""The `load:` and `slo:` sections: the request arrival process of a serving run, and its latency objectives.

A config with a `load:` section measures a server under load instead of offline batches (backends whose
capabilities include `serving`). The sections are backend-agnostic: they describe traffic, not an engine.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from llem.config.base import Section
from llem.config.rules import custom

Arrival = Literal["poisson", "gamma", "constant", "closed-loop"]

_RATE = Annotated[float, Meta(gt=0.0)]

# Length of the measured window when the config gives neither n_requests nor duration_s.
DEFAULT_DURATION_S = 30.0


class LoadConfig(Section):
    """Request arrivals (open-loop at request_rate, or closed-loop users); warm-up, window, cool-down."""

    __rules__ = (
        custom(
            ("n_requests", "duration_s"),
            lambda o: o.n_requests is not None and o.duration_s is not None,
            message="load.n_requests and load.duration_s are both set",
            reason="the measured window ends after n_requests arrivals or after duration_s, not both",
            resolution="keep one of them",
        ),
        custom(
            ("request_rate",),
            lambda o: o.arrival != "closed-loop" and o.request_rate is None,
            message="load.request_rate is required for open-loop arrivals (poisson, gamma, constant)",
            reason="an open-loop process sends requests at a rate, whatever the server's speed",
            resolution="set load.request_rate (requests/s), or use arrival: closed-loop with max_concurrency",
        ),
        custom(
            ("max_concurrency",),
            lambda o: o.arrival == "closed-loop" and o.max_concurrency is None,
            message="load.max_concurrency is required for arrival: closed-loop",
            reason="closed-loop load keeps max_concurrency requests in flight",
            resolution="set load.max_concurrency (users)",
        ),
        custom(
            ("burstiness",),
            lambda o: o.burstiness is not None and o.arrival != "gamma",
            message="load.burstiness only applies to arrival: gamma",
            reason="poisson has burstiness 1, constant has none, closed-loop sends when a request finishes",
            resolution="set arrival: gamma, or remove load.burstiness",
        ),
    )

    arrival: Annotated[
        Arrival,
        Meta(
            description="Arrival process: poisson (exponential gaps), gamma (gamma gaps with `burstiness`), "
            "constant (equal gaps), or closed-loop (max_concurrency users, each sending its next request "
            "when the previous one ends)."
        ),
    ] = "poisson"
    request_rate: Annotated[
        _RATE | list[_RATE] | None,
        Meta(
            description="Offered load in requests/s (open loop). A list runs one experiment per rate against "
            "the same started server, one result each.",
            examples=[1.0, [0.5, 2.0]],
        ),
    ] = None
    burstiness: Annotated[
        Annotated[float, Meta(gt=0.0)] | None,
        Meta(
            description="Gamma shape of the gaps (arrival: gamma): 1 is Poisson, < 1 burstier, > 1 steadier."
        ),
    ] = None
    max_concurrency: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(
            description="Requests in flight at most: the users of closed-loop load; for open loop an "
            "optional cap (arrivals beyond it wait, and achieved rate falls below offered)."
        ),
    ] = None
    n_requests: Annotated[
        Annotated[int, Meta(ge=1)] | None,
        Meta(description="Measured window: ends once this many requests have been sent after warm-up."),
    ] = None
    duration_s: Annotated[
        Annotated[float, Meta(gt=0.0)] | None,
        Meta(
            description=f"Measured window length in seconds (when neither this nor n_requests is set: "
            f"{DEFAULT_DURATION_S:g} s)."
        ),
    ] = None
    warmup_s: Annotated[
        float,
        Meta(
            ge=0.0,
            description="Load before the window opens (not measured): the server reaches steady state.",
        ),
    ] = 5.0
    cooldown_s: Annotated[
        float,
        Meta(
            ge=0.0,
            description="Load kept on after the window closes (not measured), so requests sent in the window "
            "finish under the same load; then arrivals stop and in-flight requests drain.",
        ),
    ] = 5.0
    request_timeout_s: Annotated[
        float,
        Meta(
            gt=0.0, description="A request still unfinished after this long is cancelled and counted failed."
        ),
    ] = 120.0
    seed: Annotated[
        Annotated[int, Meta(ge=0)] | None,
        Meta(description="Seed of the arrival times (None: the experiment's random_seed)."),
    ] = None

    def rates(self) -> list[float | None]:
        """The request rates to run, one experiment each (a single None for closed-loop load)."""
        if self.request_rate is None:
            return [None]
        if isinstance(self.request_rate, list):
            return list(self.request_rate)
        return [self.request_rate]

    def window_s(self) -> float | None:
        """The window's planned length (None when it is counted in requests)."""
        if self.n_requests is not None:
            return None
        return self.duration_s if self.duration_s is not None else DEFAULT_DURATION_S


class SloConfig(Section):
    """Latency objectives: a request is good (counts toward goodput) if it succeeds and meets all set."""

    ttft_ms: Annotated[
        Annotated[float, Meta(gt=0.0)] | None, Meta(description="Time to first token at most (ms).")
    ] = None
    tpot_ms: Annotated[
        Annotated[float, Meta(gt=0.0)] | None,
        Meta(description="Time per output token after the first, (e2e − ttft) / (tokens − 1), at most (ms)."),
    ] = None
    e2e_ms: Annotated[
        Annotated[float, Meta(gt=0.0)] | None, Meta(description="End-to-end latency at most (ms).")
    ] = None
