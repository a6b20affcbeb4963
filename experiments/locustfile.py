"""Shoppers browsing the demo shop: the load every example experiment runs under."""

from locust import FastHttpUser, constant_throughput, task


class Shopper(FastHttpUser):
    # 5 requests per second per user, on a fixed schedule: 60 users give about 300 requests
    # per second, enough samples for a p99 in a few seconds, light enough for a 2-core laptop.
    # chaoskit runs a schedule as an open model: each run starts at its time on a free user,
    # and more users join while a slowed-down shop keeps them all waiting, so the latency
    # measured (from when each request should have been sent) is what independent users saw.
    wait_time = constant_throughput(5)

    @task(3)
    def browse_products(self) -> None:
        self.client.get("/products")

    @task(2)
    def view_product(self) -> None:
        self.client.get("/products/1", name="/products/[id]")

    @task(1)
    def home(self) -> None:
        self.client.get("/")
