"""Identical uploads share one content-addressed file: no interleaving of one team's upload and
another team's delete may leave a dataset pointing at nothing (issue 23, item 1).

Real PostgreSQL, real threads (each its own connection), repeated many times. Half the rounds
widen the window the way a slow disk would: the upload pauses right after moving the file into
place, before its row commits, and the delete is let go at that moment. The other half start
both at once and let the scheduler interleave them.
"""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from jobs.data import datasets, storage
from jobs.models import Dataset
from tests.api.helpers import client_for
from tests.conftest import jsonl_bytes

ROUNDS = 60
CONTENT = jsonl_bytes([{"instruction": f"say {i}", "output": f"{i}"} for i in range(20)])


def _in_thread(target, errors: list) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


@pytest.mark.django_db(transaction=True)
def test_no_interleaving_of_upload_and_delete_loses_the_shared_file(
    team, other_team, member, outsider, monkeypatch
):
    commit = storage.commit_dataset
    moved = threading.Event()

    def slow_commit(*args, **kwargs):
        location = commit(*args, **kwargs)
        moved.set()
        if widen:
            time.sleep(random.uniform(0.005, 0.03))  # a slow disk between the move and the commit
        return location

    monkeypatch.setattr(storage, "commit_dataset", slow_commit)
    as_them, as_us = client_for(outsider, other_team), client_for(member, team)  # the API's delete
    rng = random.Random(23)
    lost = []
    for round_ in range(ROUNDS):
        widen = round_ % 2 == 0
        moved.clear()
        theirs = datasets.create_dataset(
            team=other_team, user=outsider, name="theirs", upload=SimpleUploadedFile("t.jsonl", CONTENT)
        )
        moved.clear()
        errors: list = []

        def upload(round_: int = round_) -> None:
            upload = SimpleUploadedFile("a.jsonl", CONTENT)
            datasets.create_dataset(team=team, user=member, name=f"ours {round_}", upload=upload)

        def delete(widen: bool = widen, theirs: Dataset = theirs) -> None:
            if widen:
                moved.wait(2)
            else:
                time.sleep(rng.uniform(0, 0.01))
            assert as_them.delete(f"/api/v1/datasets/{theirs.pk}").status_code == 204

        threads = [_in_thread(upload, errors), _in_thread(delete, errors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        ours = Dataset.objects.get(team=team)
        if not storage.resolve(ours.location).is_file():
            lost.append(round_)
        assert as_us.delete(f"/api/v1/datasets/{ours.pk}").status_code == 204
        assert not any(storage.root().joinpath("datasets").rglob("*.jsonl")), "a file no dataset uses"
    assert lost == [], f"the shared file was lost in rounds {lost} of {ROUNDS}"


@pytest.mark.django_db(transaction=True)
def test_a_delete_while_another_team_uploads_the_same_content_keeps_the_file(
    team, other_team, member, outsider
):
    """Many uploads and deletes of one content at once, from two teams: every surviving row has its file."""
    errors: list = []

    def churn(team_, user, n: int) -> None:
        client = client_for(user, team_)
        for i in range(n):
            made = datasets.create_dataset(
                team=team_, user=user, name=f"{i}", upload=SimpleUploadedFile("c.jsonl", CONTENT)
            )
            if i % 2:
                assert client.delete(f"/api/v1/datasets/{made.pk}").status_code == 204

    threads = [
        _in_thread(lambda: churn(team, member, 12), errors),
        _in_thread(lambda: churn(other_team, outsider, 12), errors),
        _in_thread(lambda: churn(team, member, 12), errors),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert Dataset.objects.count() == 18
    assert all(storage.resolve(d.location).is_file() for d in Dataset.objects.all())
