"""The embedded broker writes each message atomically, so a polling worker never reads one
half-written (kombu's own filesystem channel lets it, and the worker then dies)."""

from __future__ import annotations

import os
import subprocess
import sys

from kombu import Connection

from hone.broker import Transport


def channel(folder):
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "store_processed": False,
        "control_folder": str(folder / "control"),
    }
    return Connection("filesystem://", transport=Transport, transport_options=options).channel()


def test_a_message_goes_in_whole_and_comes_out_whole(tmp_path):
    chan = channel(tmp_path)
    chan._put("celery", {"body": "hello", "headers": {"task": "t"}})
    assert [p.name.endswith(".celery.msg") for p in tmp_path.iterdir() if p.is_file()] == [True]
    assert chan._get("celery")["body"] == "hello"


def test_a_message_still_being_written_is_left_alone(tmp_path):
    chan = channel(tmp_path)
    (tmp_path / "1_abc.celery.msg.partial").write_bytes(b"")  # what a writer leaves mid-write
    chan._put("celery", {"body": "whole"})
    assert chan._get("celery")["body"] == "whole"
    assert (tmp_path / "1_abc.celery.msg.partial").exists()


def test_the_embedded_default_uses_it(tmp_path):
    """Without CELERY_BROKER_URL (as `make run`), web, worker and beat all write through it."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env |= {"HONE_VAR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "hone.settings"}
    code = (
        "import django; django.setup(); from hone.celery import app; "
        "print(type(app.connection_for_write().transport).__module__)"
    )
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "hone.broker"
