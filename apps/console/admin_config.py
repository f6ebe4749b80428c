from django.contrib.admin.apps import AdminConfig


class ConsoleAdminConfig(AdminConfig):
    """Django's admin, with the operators' console (a dashboard) as its index page."""

    default_site = "apps.console.sites.ConsoleAdminSite"
