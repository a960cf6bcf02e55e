"""Run all of Hone on this machine: web server, Celery worker and beat. Ctrl-C stops them all.

Before starting, it migrates the database, collects static files and seeds the demo.
Running trainers are asked to checkpoint and stop on shutdown; the next start resumes them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from jobs.management import demo_model
from jobs.management.commands.seed_demo import DEMO_USER, demo_password

STOP_TIMEOUT_SECONDS = 15


class Command(BaseCommand):
    help = "Serve Hone with gunicorn, a Celery worker and Celery beat until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HONE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("HONE_PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--no-demo", action="store_true", help="Do not create the demo account and assets."
        )

    def handle(
        self, *args: object, host: str, port: int, web_workers: int, no_demo: bool, **_: object
    ) -> None:
        self.step("Preparing the database", call_command, "migrate", interactive=False, verbosity=0)
        self.step("Collecting static files", call_command, "collectstatic", interactive=False, verbosity=0)
        if not no_demo:
            devnull = open(os.devnull, "w")  # noqa: SIM115
            self.step("Creating the demo account, models and data", call_command, "seed_demo", stdout=devnull)
        url = f"http://{host}:{port}/"
        env = {**os.environ, "HONE_INGEST_URL": os.environ.get("HONE_INGEST_URL") or url.rstrip("/")}
        children = self.start_children(host, port, web_workers, env)
        helpers = {} if no_demo else self.start_demo_model(env)
        self.stdout.write(self.style.SUCCESS(f"Hone is running at {url}"))
        if not no_demo:
            self.stdout.write(f"Log in as: {DEMO_USER} / {demo_password()}")
        self.stdout.write("Press Ctrl-C to stop.")
        sys.stdout.flush()
        code = self.supervise(children, helpers)
        self.stop({**helpers, **children})
        self.checkpoint_running_trainers()
        sys.exit(code)

    def step(self, title: str, action, *args: object, **kwargs: object) -> None:
        """One named start-up step and how long it took, so a first start shows what it is doing."""
        self.stdout.write(f"{title} … ", ending="")
        self.stdout.flush()
        started = time.monotonic()
        action(*args, **kwargs)
        self.stdout.write(f"done ({time.monotonic() - started:.0f} s)")

    def start_demo_model(self, env: dict) -> dict[str, subprocess.Popen]:
        """On a first start, convert the demo model in the background: Hone serves meanwhile, and
        the model appears under Models when it is ready (about a minute, once)."""
        if demo_model.is_prepared(settings.HONE_DEMO_MODEL_DIR):
            return {}
        self.stdout.write(
            f"Preparing the demo model {demo_model.NAME} in the background (about a minute, once) …"
        )
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "prepare_demo_model"]
        return {"demo model": subprocess.Popen(command, env=env, start_new_session=True)}

    def start_children(
        self, host: str, port: int, web_workers: int, env: dict
    ) -> dict[str, subprocess.Popen]:
        py = sys.executable
        commands = {
            "web": [
                py,
                "-m",
                "gunicorn",
                "hone.wsgi",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
            ],
            "worker": [
                py,
                "-m",
                "celery",
                "-A",
                "hone",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
            ],
            "beat": [
                py,
                "-m",
                "celery",
                "-A",
                "hone",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        # Own process groups: a terminal's Ctrl-C reaches only us, and we stop them in order.
        return {
            name: subprocess.Popen(cmd, env=env, start_new_session=True) for name, cmd in commands.items()
        }

    def supervise(self, children: dict[str, subprocess.Popen], helpers: dict[str, subprocess.Popen]) -> int:
        """Until a signal or a server process dies; a helper (one-shot) that ends is only reported."""
        stopping = {"signal": None}

        def on_signal(signum: int, _frame: object) -> None:
            stopping["signal"] = signum

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while stopping["signal"] is None:
            for name, proc in children.items():
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with code {proc.returncode}; stopping Hone")
                    return 1
            for name, proc in list(helpers.items()):
                if proc.poll() is not None:
                    del helpers[name]
                    if proc.returncode:
                        self.stderr.write(f"Preparing the {name} failed (exit {proc.returncode}); see above")
            time.sleep(0.5)
        self.stdout.write("Stopping Hone…")
        return 0

    def stop(self, children: dict[str, subprocess.Popen]) -> None:
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # the parent stops its own children in order
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, proc in children.items():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stderr.write(f"{name} did not stop in time; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def checkpoint_running_trainers(self) -> None:
        from jobs.executors import registry
        from jobs.models import Attempt

        if settings.HONE_EXECUTOR != "local":
            return
        executor = registry.current()
        for attempt in Attempt.objects.filter(status__in=Attempt.LIVE):
            executor.cancel(
                attempt.job_id, attempt.number
            )  # SIGTERM: checkpoint, exit 143, resume next start
        self.stdout.write("Hone stopped.")
