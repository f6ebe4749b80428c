import os

from django.core.wsgi import get_wsgi_application

# Fail closed: a deploy that sets nothing gets the production settings, which refuse to start
# without their secrets (never the local ones, with DEBUG, the sandbox and a public SECRET_KEY).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
application = get_wsgi_application()
