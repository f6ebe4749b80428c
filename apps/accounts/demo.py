from django.conf import settings

from .models import User

ORDER = 0


def seed(stdout) -> None:
    """The admin user admin/admin, only when DEBUG (never a known password in production)."""
    if not settings.DEBUG:
        stdout.write("DEBUG is off: no admin/admin user")
        return
    if not User.objects.filter(username="admin").exists():
        User.objects.create_superuser("admin", "admin@example.com", "admin", nickname="管理员")
