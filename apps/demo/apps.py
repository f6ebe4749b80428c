from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for the console and the benchmarks (`seed_demo --scale N`); it owns no tables."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "演示数据 Demo data"
