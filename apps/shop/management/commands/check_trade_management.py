"""After a deploy: does WeChat manage this mini-program's trades, and is the project doing its part?"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.shop.models import ShippingUpload
from apps.wechat import trade as wechat_trade
from apps.wechat.errors import WeChatError


class Command(BaseCommand):
    help = (
        "Ask WeChat whether the mini-program is under trade management (is_trade_managed, "
        "is_trade_management_confirmation_completed), compare with WECHAT_TRADE_MANAGEMENT, report "
        "uploads waiting or refused; --apply sets WeChat's message jump path to WECHAT_TRADE_MSG_JUMP_PATH. "
        "Exits 1 when something needs a person."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--apply", action="store_true", help="set the message jump path (set_msg_jump_path)"
        )

    def handle(self, *args, apply=False, **options):
        try:
            managed = wechat_trade.is_trade_managed()
            confirmed = wechat_trade.is_trade_management_confirmation_completed()
        except WeChatError as exc:
            raise CommandError(f"WeChat did not answer: {exc.message}") from exc
        problems = []
        self.stdout.write(f"is_trade_managed: {managed}")
        self.stdout.write(f"is_trade_management_confirmation_completed: {confirmed}")
        self.stdout.write(f"WECHAT_TRADE_MANAGEMENT (uploads): {settings.WECHAT_TRADE_MANAGEMENT}")
        if managed and not settings.WECHAT_TRADE_MANAGEMENT:
            problems.append(
                "WeChat manages this mini-program's trades but uploads are off: buyers' money stays "
                "frozen and WeChat Pay will be restricted. Set WECHAT_TRADE_MANAGEMENT=1."
            )
        if managed and not confirmed:
            problems.append(
                "the settlement management confirmation is not completed for every merchant "
                "(mini-program console → 发货信息管理)."
            )
        pending = ShippingUpload.objects.filter(status=ShippingUpload.Status.PENDING).count()
        failed = ShippingUpload.objects.filter(status=ShippingUpload.Status.FAILED).count()
        self.stdout.write(f"uploads pending: {pending}, refused by WeChat: {failed}")
        if failed:
            problems.append(f"{failed} upload(s) refused by WeChat: admin → 微信发货信息上传, fix and retry.")
        path = settings.WECHAT_TRADE_MSG_JUMP_PATH
        if apply and managed:
            try:
                wechat_trade.set_msg_jump_path(path)
            except WeChatError as exc:
                raise CommandError(f"set_msg_jump_path failed: {exc.message}") from exc
            self.stdout.write(f"message jump path set: {path}")
        else:
            self.stdout.write(f"message jump path (not set; --apply sets it): {path}")
        for problem in problems:
            self.stderr.write(f"problem: {problem}")
        if problems:
            raise SystemExit(1)
        self.stdout.write("ok")
