"""Shoppers browsing the demo shop: the load every example experiment runs under."""

from locust import FastHttpUser, constant_throughput, task


class Shopper(FastHttpUser):
    # 5 requests per second per user, on a fixed schedule: 60 users give about 300 requests
    # per second, enough samples for a p99 in a few seconds, light enough for a 2-core laptop.
    # A user waits for each response before its next request, so one whose responses take
    # longer than its 200 ms interval falls behind, and its users' latency (measured from when
    # each request should have been sent) grows: that is what a slowed-down shop does to them.
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
