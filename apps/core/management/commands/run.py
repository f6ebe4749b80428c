"""`manage.py run`: the whole product on one machine, with nothing but Python.

Migrates the SQLite database (or DATABASE_URL), seeds the demo data, then runs the web server, a
Celery worker and Celery beat side by side (on kombu's filesystem broker unless REDIS_URL is set),
with the WeChat sandbox on. PORT picks the port (8000), HOST the address (127.0.0.1: only this
machine; `--host 0.0.0.0` to be reached from others). Ctrl-C stops all three.

The web server is gunicorn with a fixed number of workers and threads (WEB_WORKERS x WEB_THREADS),
never Django's runserver: runserver starts a thread per request and each thread keeps its own
database connection, so 200 concurrent requests held ~100 PostgreSQL connections for a minute and
exhausted the server. gunicorn's threads are a fixed pool, so the connections are bounded too.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


def web_command(python: str, *, host: str, port: int, workers: int, threads: int) -> list[str]:
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [
        python,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        bind,
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--access-logfile",
        "-",
    ]


class Command(BaseCommand):
    help = "Migrate, seed the demo data, and run the web server with a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "4")))
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, port: int, host: str, workers: int, threads: int, no_seed: bool, **options):
        call_command("migrate", interactive=False, verbosity=1)
        if not no_seed:
            call_command("seed_demo")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.local"),
            "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}"),
            "PYTHONUNBUFFERED": "1",
        }
        python = sys.executable
        commands = {
            "web": web_command(python, host=host, port=port, workers=workers, threads=threads),
            "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "-l",
                "info",
                "-s",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        sandbox = "on" if settings.WECHAT_SANDBOX else "off"
        broker = "Redis" if settings.REDIS_URL else "the filesystem broker (no Redis needed)"
        shown = f"[{host}]" if ":" in host else host
        self.stdout.write(
            self.style.SUCCESS(
                f"Starting web on http://{shown}:{port} (gunicorn: {workers} workers x {threads} threads, "
                f"at most {workers * threads} database connections; docs /api/v1/docs/, admin /admin/ "
                f"admin/admin), Celery worker and beat on {broker}; WeChat sandbox {sandbox}."
            )
        )
        procs = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env) for name, cmd in commands.items()
        }
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the rest")
                        stopping = True
                time.sleep(0.5)
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
            deadline = time.time() + 15
            for proc in procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stdout.write("stopped")
