"""Server-side SLIs from Prometheus next to what the load generator measured.

The demo shop exports request counters and a request-duration histogram on /metrics; a
Prometheus server (Debian's `prometheus`, started by the local environment) scrapes every
replica once a second. Latency injected in front of one replica shows in the users' p95 but
not in the servers' own p99: a server-side SLI cannot see the network between users and
servers, which is why an experiment should judge both.

Skipped, with the reason shown, when `prometheus` is not installed. About 25 s: Prometheus
needs ~6 s to discover the replicas, then 5 s baseline, 6 s hold and 7 s recovery. It also
declares the shop's error budget (99.9 % over 30 days, at most 1 % of it per experiment) and
a recovery time objective of 3 s: the shop recovers at once, and a second of margin keeps a
machine busy with other work from failing it.
"""

import shutil

import pytest

from chaoskit import faults, load, prometheus, slo

# Over the last 3 s at every second of the window; the worst point must stay below 25 ms.
SERVER_P99 = prometheus.query(
    name="server p99",
    promql="histogram_quantile(0.99, sum by (le) (rate(shop_request_duration_seconds_bucket[3s])))",
    below="25ms",
)
# "or vector(0)": with no 5xx at all the numerator has no series, and no data is inconclusive.
SERVER_ERRORS = prometheus.query(
    name="server 5xx",
    promql='(sum(rate(shop_requests_total{code=~"5.."}[3s])) or vector(0))'
    " / sum(rate(shop_requests_total[3s]))",
    below="1%",
)

pytestmark = pytest.mark.chaos(
    load=load.Locust("experiments/locustfile.py", users=60),
    steady_state=[
        slo.latency(p=95, below="300ms"),
        slo.error_rate(below="1%"),
        SERVER_P99,
        SERVER_ERRORS,
    ],
    baseline="5s",
    recovery="7s",
    # The SLO this shop promises, and how fast it must be back after a fault is removed.
    error_budget=slo.budget(target="99.9%", period="30d", max_budget="1%"),
    rto="3s",
)


@pytest.fixture(scope="module", autouse=True)
def local_prometheus(request: pytest.FixtureRequest) -> None:
    """A Prometheus server for the objectives: one already configured (prometheus = true in
    [tool.chaoskit.env.local], or CHAOSKIT_PROMETHEUS_URL), else one started for this module."""
    if request.config.getoption("chaos_dry_run") or prometheus.default_url() is not None:
        return
    if shutil.which("prometheus") is None:
        pytest.skip("needs Prometheus for its SLIs: apt-get install prometheus")
    env = request.getfixturevalue("chaos_env")
    if not hasattr(env, "start_prometheus"):
        pytest.skip(f"environment {env.name!r} runs no Prometheus; set CHAOSKIT_PROMETHEUS_URL")
    env.start_prometheus()


def test_latency_in_front_of_one_instance_is_invisible_server_side(chaos):
    chaos.inject(faults.Latency(target="web", delay="50ms", count=1), hold="6s")
