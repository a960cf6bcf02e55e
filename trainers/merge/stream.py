"""Streaming safetensors: read one tensor at a time, write shards as tensors arrive.

Reading uses positioned reads (``os.preadv``) into a fresh buffer per tensor rather than
``safetensors.safe_open``: safe_open memory-maps the file, and every page a merge touches then
stays resident and counts towards the process's RSS (and its container's memory limit) until the
file is closed, so a merge of three 10 GB models would look like a 30 GB process. Here a tensor's
bytes live only as long as the merge needs them.

Writing plans every shard up front (names, dtypes and shapes are known before the first tensor is
merged), so each shard's header is written first and each tensor goes straight to its offset with
``os.pwrite``: no shard is ever buffered in memory. Shards are written under a ``.partial`` name and
renamed once complete, so a crashed attempt never leaves a file that looks like a finished model.
The format is the safetensors one (8-byte little-endian header length, JSON header padded with
spaces to 8 bytes, contiguous tensor data); the tests read every output back with the
``safetensors`` library and transformers.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainers.spec import SpecError

if TYPE_CHECKING:
    import torch

INDEX_NAME = "model.safetensors.index.json"
SINGLE_NAME = "model.safetensors"
MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit
# safetensors dtype codes → (torch dtype name, bytes per element)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float64", 8),
    "F32": ("float32", 4),
    "F16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "F8_E4M3": ("float8_e4m3fn", 1),
    "F8_E5M2": ("float8_e5m2", 1),
    "I64": ("int64", 8),
    "I32": ("int32", 4),
    "I16": ("int16", 2),
    "I8": ("int8", 1),
    "U8": ("uint8", 1),
    "BOOL": ("bool", 1),
}
FLOAT_CODES = {"F64", "F32", "F16", "BF16"}
CODE_OF_TORCH_NAME = {name: code for code, (name, _) in DTYPES.items()}


class WeightsError(SpecError):
    """A weights file that cannot be read as safetensors: re-running will not fix it."""


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives: file, absolute byte offset and length, dtype code, shape."""

    name: str
    file: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_CODES


def read_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of one safetensors file, in file order, without reading their data."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise WeightsError(f"{path} is not a safetensors file (too short); re-save or re-upload it")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise WeightsError(
                f"{path} is not a safetensors file (bad header length); re-save or re-upload it"
            )
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise WeightsError(
                f"{path} has a corrupt safetensors header ({exc}); re-save or re-upload it"
            ) from exc
    header.pop("__metadata__", None)
    data_start = 8 + length
    infos = []
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if entry["dtype"] not in DTYPES or data_start + end > size or begin > end:
            raise WeightsError(f"{path}: tensor {name} is truncated or of an unknown type ({entry['dtype']})")
        infos.append(
            TensorInfo(name, path, entry["dtype"], tuple(entry["shape"]), data_start + begin, end - begin)
        )
    infos.sort(key=lambda info: info.start)
    return {info.name: info for info in infos}


def weight_files(directory: Path, preferred: str = SINGLE_NAME) -> list[Path]:
    """The safetensors files holding a model: the index's shards, else ``preferred``, else the only one."""
    index = directory / INDEX_NAME
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise WeightsError(f"{index} is not a valid safetensors index ({exc})") from exc
        return [directory / name for name in dict.fromkeys(weight_map.values())]
    if (directory / preferred).is_file():
        return [directory / preferred]
    found = sorted(directory.glob("*.safetensors"))
    return found if len(found) == 1 else []


class WeightReader:
    """All tensors of one model (sharded or not); ``read`` returns a fresh tensor each call."""

    def __init__(self, files: Iterable[Path]) -> None:
        self.tensors: dict[str, TensorInfo] = {}
        for path in files:
            for name, info in read_header(path).items():
                if name in self.tensors:
                    raise WeightsError(f"tensor {name} appears in both {self.tensors[name].file} and {path}")
                self.tensors[name] = info
        self._fds: dict[Path, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def read(self, name: str) -> torch.Tensor:
        import torch

        info = self.tensors[name]
        buffer = torch.empty(info.nbytes, dtype=torch.uint8)
        if info.nbytes:
            _read_into(self._fd(info.file), memoryview(buffer.numpy()), info.start, info)
        return buffer.view(getattr(torch, DTYPES[info.dtype][0])).reshape(info.shape)

    def _fd(self, path: Path) -> int:
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return self._fds[path]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _read_into(fd: int, view: memoryview, offset: int, info: TensorInfo) -> None:
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got == 0:
            raise WeightsError(f"{info.file}: tensor {info.name} is cut short; the file is incomplete")
        done += got


@dataclass(frozen=True)
class PlannedTensor:
    name: str
    dtype: str  # safetensors code
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        n = DTYPES[self.dtype][1]
        for d in self.shape:
            n *= d
        return n


@dataclass
class _Shard:
    path: Path
    tensors: list[PlannedTensor] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)  # absolute, in the file
    size: int = 0
    fd: int = -1


def plan_shards(planned: list[PlannedTensor], shard_bytes: int) -> list[list[PlannedTensor]]:
    """Fill shards in order; a tensor larger than the limit gets a shard of its own."""
    shards: list[list[PlannedTensor]] = [[]]
    used = 0
    for tensor in planned:
        if shards[-1] and used + tensor.nbytes > shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append(tensor)
        used += tensor.nbytes
    return shards


def shard_names(count: int, prefix: str = "model") -> list[str]:
    if count == 1:
        return [f"{prefix}.safetensors"]
    return [f"{prefix}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def _header_bytes(tensors: list[PlannedTensor]) -> tuple[bytes, dict[str, int]]:
    """The padded header and each tensor's offset within the data section."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offsets, position = {}, 0
    for t in tensors:
        header[t.name] = {
            "dtype": t.dtype,
            "shape": list(t.shape),
            "data_offsets": [position, position + t.nbytes],
        }
        offsets[t.name] = position
        position += t.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # data starts 8-byte aligned, as safetensors writes it
    return struct.pack("<Q", len(raw)) + raw, offsets


class ShardWriter:
    """Writes planned tensors straight to their place in sharded safetensors files."""

    def __init__(self, out_dir: Path, planned: list[PlannedTensor], shard_bytes: int, prefix: str = "model"):
        self.out_dir = out_dir
        self.prefix = prefix
        groups = plan_shards(planned, shard_bytes)
        self._shards = [_Shard(out_dir / name) for name in shard_names(len(groups), prefix)]
        self._where: dict[str, tuple[_Shard, PlannedTensor]] = {}
        self._written: set[str] = set()
        for shard, group in zip(self._shards, groups, strict=True):
            # Wider types first keeps every tensor aligned to its element size, as safetensors does.
            shard.tensors = sorted(group, key=lambda t: -DTYPES[t.dtype][1])
            header, offsets = _header_bytes(shard.tensors)
            shard.offsets = {name: len(header) + off for name, off in offsets.items()}
            shard.size = len(header) + sum(t.nbytes for t in shard.tensors)
            shard.fd = os.open(_partial(shard.path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.ftruncate(shard.fd, shard.size)
            os.pwrite(shard.fd, header, 0)
            self._where.update({t.name: (shard, t) for t in shard.tensors})

    def write(self, name: str, tensor: torch.Tensor) -> None:
        import torch

        shard, planned = self._where[name]
        code = CODE_OF_TORCH_NAME[str(tensor.dtype).removeprefix("torch.")]
        if code != planned.dtype or tuple(tensor.shape) != planned.shape:
            raise RuntimeError(
                f"{name}: got {code} {tuple(tensor.shape)}, planned {planned.dtype} {planned.shape}"
            )
        data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
        view, done, offset = memoryview(data), 0, shard.offsets[name]
        while done < len(view):
            done += os.pwrite(shard.fd, view[done:], offset + done)
        self._written.add(name)

    def close(self) -> list[Path]:
        """Finish: every planned tensor must have been written; rename shards, write the index."""
        missing = [name for name in self._where if name not in self._written]
        if missing:
            self.abort()
            raise RuntimeError(f"{len(missing)} planned tensors were never written, e.g. {missing[0]}")
        for shard in self._shards:
            os.fsync(shard.fd)
            os.close(shard.fd)
            os.replace(_partial(shard.path), shard.path)
        if len(self._shards) > 1:
            self._write_index()
        return [shard.path for shard in self._shards]

    def abort(self) -> None:
        for shard in self._shards:
            if shard.fd >= 0:
                os.close(shard.fd)
                shard.fd = -1
            _partial(shard.path).unlink(missing_ok=True)

    def _write_index(self) -> None:
        weight_map = {name: shard.path.name for name, (shard, _) in sorted(self._where.items())}
        total = sum(t.nbytes for _, t in self._where.values())
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        path = self.out_dir / (
            INDEX_NAME if self.prefix == "model" else f"{self.prefix}.safetensors.index.json"
        )
        path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def remove_weights(out_dir: Path, prefix: str = "model") -> None:
    """Delete weights an earlier attempt left in ``out_dir``, so shards of two runs never mix."""
    for pattern in (
        f"{prefix}*.safetensors",
        f"{prefix}*.safetensors.partial",
        f"{prefix}*.safetensors.index.json",
    ):
        for path in out_dir.glob(pattern):
            path.unlink()
