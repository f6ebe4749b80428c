from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API key (Authorization: Token <key>) of a staff user, creating the key if needed."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_staff or not user.is_active:
            raise CommandError(f"{username!r} is not an active staff user; operators must be staff")
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
