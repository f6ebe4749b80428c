"""The share landing page /s/{code}, outside /api/v1 (opened from links outside WeChat)."""

urlpatterns: list = []
