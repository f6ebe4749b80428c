"""The project's URLs plus the sandbox's subscribe-message route (until the shared sandbox urls
mount it: `path("cgi-bin/message/subscribe/send", subscribe.send, name="subscribe_send")`)."""

from django.urls import path

from apps.wechat.sandbox import subscribe
from config import urls as project_urls

urlpatterns = [
    path("wechat-sandbox/cgi-bin/message/subscribe/send", subscribe.send),
    *project_urls.urlpatterns,
]

handler404 = project_urls.handler404
handler500 = project_urls.handler500
