from django.apps import AppConfig


class WechatConfig(AppConfig):
    name = "apps.wechat"
    label = "wechat"
    verbose_name = "微信 WeChat"
