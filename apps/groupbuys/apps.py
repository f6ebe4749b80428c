from django.apps import AppConfig


class GroupbuysConfig(AppConfig):
    name = "apps.groupbuys"
    label = "groupbuys"
    verbose_name = "拼团 Group buys"
