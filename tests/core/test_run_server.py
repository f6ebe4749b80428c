"""`manage.py run` serves on 127.0.0.1 through a bounded pool (issue 15).

The reproduction: runserver on 0.0.0.0 (its banner said 127.0.0.1) started a thread per request, each
keeping its own PostgreSQL connection; 200 concurrent group joins held 98 idle connections for a
minute and 109 of the 200 answered 500.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from tests.groupbuys.factories import CampaignFactory, open_group, shopper_with_address

WORKERS, THREADS = 2, 4


def test_the_web_server_is_gunicorn_with_a_fixed_pool_on_loopback_by_default():
    from apps.core.management.commands.run import Command, web_command

    options = Command().create_parser("manage.py", "run").parse_args([])
    command = web_command("python", host=options.host, port=8000, workers=2, threads=4)

    assert options.host == "127.0.0.1"
    assert command[command.index("--bind") + 1] == "127.0.0.1:8000"
    assert command[2:4] == ["gunicorn", "config.wsgi:application"]
    assert command[command.index("--workers") + 1 :][:1] == ["2"]
    assert command[command.index("--threads") + 1 :][:1] == ["4"]
    assert web_command("python", host="::1", port=8001, workers=1, threads=1)[5] == "[::1]:8001"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outward_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None when it has only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"manage.py run exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _join(port: int, group_id: int, token: str, address_id: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/groups/{group_id}/join",
        data=json.dumps({"quantity": 1, "address_id": address_id}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_200_concurrent_joins_through_manage_py_run_leave_postgres_connections_bounded(tmp_path):
    # given: a 5-seat group and 200 shoppers, and `manage.py run` started as the README says
    campaign = CampaignFactory(group_size=5, per_user_limit=1, sku__stock=1000)
    group, _order, _leader = open_group(campaign)
    joiners = [shopper_with_address() for _ in range(200)]
    tokens = [(str(AccessToken.for_user(user)), address.pk) for user, address in joiners]
    port = _free_port()
    # No REDIS_URL: its worker and beat get a filesystem broker in tmp_path, so the tasks the joins
    # queue never reach the Redis broker later tests' workers read.
    unset = {"HOST", "PORT", "DJANGO_SETTINGS_MODULE", "REDIS_URL"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env |= {
        "KOC_NO_BOOTSTRAP": "1",
        "DATABASE_URL": _database_url(),
        "VAR_DIR": str(tmp_path),
        "SECRET_KEY": settings.SECRET_KEY,  # the tokens above are signed with the tests' key
        "WEB_WORKERS": str(WORKERS),
        "WEB_THREADS": str(THREADS),
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run", "--no-seed", "--port", str(port)],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", proc)

        # then: it listens on loopback only
        outward = _outward_address()
        if outward:
            with pytest.raises(OSError), socket.create_connection((outward, port), timeout=2):
                pass

        # when: 200 join at once
        with ThreadPoolExecutor(200) as pool:
            statuses = list(pool.map(lambda t: _join(port, group.pk, *t), tokens))
        held = _other_connections()

        # then: no 5xx: four took the free seats, the rest were told the group is full; and the
        # server holds no more connections than its threads (plus the Celery worker's and beat's)
        print(f"statuses {Counter(statuses)}; connections held after the load: {held}")
        assert Counter(statuses) == Counter({201: 4, 409: 196})
        assert held <= WORKERS * THREADS + 4
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    banner = next(line for line in output.splitlines() if line.startswith("Starting web on"))
    assert banner.startswith(f"Starting web on http://127.0.0.1:{port} (gunicorn: 2 workers x 4 threads")
