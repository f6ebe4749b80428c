"""A real Celery worker process answers a task: on the server-less filesystem broker and on Redis."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def _start_worker(env_overrides: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", **env_overrides}
    env.pop("REDIS_URL", None) if "REDIS_URL" not in env_overrides else None
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "-l", "warning"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _stop(worker: subprocess.Popen) -> str:
    worker.terminate()
    try:
        out, _ = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, _ = worker.communicate()
    return out.decode(errors="replace")


def test_round_trip_on_the_filesystem_broker(tmp_path):
    # given: a worker configured exactly as `manage.py run` does without Redis
    worker = _start_worker({"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"})
    folder = tmp_path / "celery"
    for sub in ("queue", "processed", "results"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    client = Celery(
        broker="filesystem://",
        backend=f"file://{folder / 'results'}",
        broker_transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
        },
    )
    try:
        # when
        answer = client.send_task("core.health").get(timeout=60)
    finally:
        log = _stop(worker)

    # then
    assert answer["db"] == "sqlite", log
    assert answer["select"] == 1
    assert answer["worker"].startswith("celery@")


@pytest.mark.redis
def test_round_trip_on_redis(tmp_path):
    redis_url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/14"  # a db of its own
    # Its own db, emptied first: tasks another run queued there (with no worker) would be consumed
    # before ours, and the answer could time out behind them.
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    worker = _start_worker(
        {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}",
            "REDIS_URL": redis_url,
        }
    )
    client = Celery(broker=redis_url, backend=redis_url)
    try:
        answer = client.send_task("core.health").get(timeout=60)
    finally:
        log = _stop(worker)

    assert answer["db"] == "sqlite", log
    assert answer["select"] == 1
