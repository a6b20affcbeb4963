"""An AWS FIS template rehearsed on the local system before it runs in an account.

`fis/latency-then-terminate.json` is CreateExperimentTemplate input, as `aws fis
create-experiment-template --cli-input-json` takes it: a minute of latency on one web
instance, then its termination. Here it runs on the embedded shop at 1/20 of its time (the
minute takes 3 s), the template's `web-5xx` alarm judged as an objective; with
`--chaos-env NAME` of an AWS environment the same file runs as an FIS experiment (give it a
hold of a few minutes there). See docs/fis-rehearsal.md.
"""

import pytest

from chaoskit import faults, load, slo

pytestmark = pytest.mark.chaos(
    load=load.Locust("experiments/locustfile.py", users=60),
    steady_state=[slo.latency(p=99, below="300ms"), slo.error_rate(below="1%")],
    baseline="6s",
    recovery="7s",
)


def test_latency_then_losing_the_instance(chaos):
    chaos.inject(
        faults.FisExperiment(
            template="experiments/fis/latency-then-terminate.json",
            stop_conditions={"web-5xx": "errors<5%"},
            time_scale=1 / 20,
        ),
        hold="8s",
    )
