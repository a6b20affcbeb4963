"""Shoppers browsing the demo shop: the load every example experiment runs under."""

from locust import FastHttpUser, constant_throughput, task


class Shopper(FastHttpUser):
    # 15 requests per second per user: 20 users give about 300 requests per second, enough
    # samples for a p99 in a few seconds, light enough for a 2-core laptop.
    wait_time = constant_throughput(15)

    @task(3)
    def browse_products(self) -> None:
        self.client.get("/products")

    @task(2)
    def view_product(self) -> None:
        self.client.get("/products/1", name="/products/[id]")

    @task(1)
    def home(self) -> None:
        self.client.get("/")
