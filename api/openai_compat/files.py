"""``files``: upload (``purpose: fine-tune``), list, retrieve, delete, content. A file is a Hone
dataset, checked row by row on upload through the same path as every other upload
(``jobs.data.datasets``); OpenAI's preference and reinforcement formats are translated first
(``preference``, ``reinforcement_file``)."""

from __future__ import annotations

from django.db.models import ProtectedError
from django.http import FileResponse
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.openai_compat import errors, ids, preference, reinforcement_file
from api.openai_compat.base import OpenAIView, after_of, page
from api.problems import PayloadTooLarge
from api.views.params import job_numbers
from jobs.data import datasets, storage
from jobs.models import Dataset

PURPOSES = ("fine-tune",)
MAX_ROW_PROBLEMS = 10


def file_object(dataset: Dataset) -> dict:
    return {
        "id": ids.of("file", dataset.pk),
        "object": "file",
        "bytes": dataset.bytes,
        "created_at": ids.timestamp(dataset.created_at),
        "expires_at": None,
        "filename": dataset.filename,
        "purpose": "fine-tune",
        "status": "processed",  # every stored file has passed its checks
        "status_details": None,
    }


def _rejected(exc: datasets.DatasetRejected) -> errors.InvalidRequest:
    """Every row problem (up to ten) named by line and field, in one message."""
    rows = [error["text"] for error in (exc.report.to_dict()["errors"] if exc.report else [])]
    message = str(exc)
    if len(rows) > 1:
        message += ". Problems: " + "; ".join(rows[:MAX_ROW_PROBLEMS])
    return errors.InvalidRequest(message, param="file", code="invalid_file")


class FileList(OpenAIView):
    parser_classes = [MultiPartParser]

    def initialize_request(self, request, *args, **kwargs):
        datasets.limit_upload(request)  # the upload handler that stops reading past the limit
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authenticated and allowed before anything is read
        if request.method == "POST":
            try:
                datasets.refuse_early(request)
            except datasets.UploadTooLarge as exc:
                raise PayloadTooLarge(str(exc)) from None

    def get(self, request: Request) -> Response:
        purpose = request.query_params.get("purpose")
        found = Dataset.objects.filter(team=self.team)
        if purpose is not None and purpose not in PURPOSES:
            found = found.none()  # Hone keeps fine-tuning files only
        after = after_of(request, lambda raw: ids.parse("file", raw))
        return Response(page(request, found, file_object, after_pk=after, default=100))

    def post(self, request: Request) -> Response:
        purpose = request.data.get("purpose")
        if purpose not in PURPOSES:
            raise errors.InvalidRequest(
                f"purpose must be 'fine-tune', got {purpose!r}: Hone keeps files for fine-tuning only.",
                param="purpose",
                code="invalid_purpose",
            )
        upload = request.data.get("file")
        if upload is None or not hasattr(upload, "chunks"):
            raise errors.InvalidRequest("Send the file as the multipart field 'file'.", param="file")
        try:
            if preference.is_openai_preference(upload):
                upload = preference.translated(upload)
            elif reinforcement_file.is_openai_reinforcement(upload):
                upload = reinforcement_file.translated(upload)
            dataset = datasets.create_dataset(team=self.team, user=request.user, name="", upload=upload)
        except preference.FileProblems as exc:
            raise errors.InvalidRequest(str(exc), param="file", code="invalid_file") from None
        except datasets.DatasetRejected as exc:
            raise _rejected(exc) from None
        return Response(file_object(dataset))


class TeamFile(OpenAIView):
    def dataset(self, file_id: str) -> Dataset:
        return self.found(Dataset.objects.filter(team=self.team), ids.parse("file", file_id), "file", file_id)


class FileDetail(TeamFile):
    def get(self, request: Request, file_id: str) -> Response:
        return Response(file_object(self.dataset(file_id)))

    def delete(self, request: Request, file_id: str) -> Response:
        dataset = self.dataset(file_id)
        try:
            datasets.delete_dataset(dataset)
        except ProtectedError as exc:
            raise errors.InvalidRequest(
                f"{file_id} is the training data of job {job_numbers(exc.protected_objects)}; files "
                "that jobs used are kept so those jobs can be traced and run again.",
                code="file_in_use",
            ) from None
        return Response({"id": file_id, "object": "file", "deleted": True})


class FileContent(TeamFile):
    def get(self, request: Request, file_id: str) -> FileResponse:
        dataset = self.dataset(file_id)
        return FileResponse(
            storage.resolve(dataset.location).open("rb"), content_type="application/octet-stream"
        )
