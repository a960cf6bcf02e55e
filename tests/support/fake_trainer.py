"""A stand-in trainer for lifecycle tests: a real process that speaks the event protocol
(through the trainer's own ``trainers.events``) without importing torch. Invoked as
``fake_trainer.py -m trainers run SPEC.json``, with the project on PYTHONPATH (the local
executor puts it there).

FAKE_TRAINER_EXIT picks the exit code; FAKE_TRAINER_SLEEP keeps it running that long
(SIGTERM ends it with 143, as the real trainer does).
"""

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from trainers.events import EventEmitter  # the real trainer's emitter: the same event lines

events = EventEmitter(sys.stdout)


def main() -> int:
    spec = json.loads(Path(sys.argv[-1]).read_text())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    events.started(total_steps=4, epochs=1, trainable_params=10, total_params=100, device="cpu", model="fake")
    for step in range(1, 5):
        events.progress(step=step, total=4, epoch=step / 4, eta_seconds=4 - step, samples_per_second=1.0)
        events.metric("loss", step=step, value=2.0 / step, split="train")
        events.log(f"step {step}", level="INFO")
    time.sleep(float(os.environ.get("FAKE_TRAINER_SLEEP", "0")))
    code = int(os.environ.get("FAKE_TRAINER_EXIT", "0"))
    if code:
        print("RuntimeError: the fake trainer was told to fail", file=sys.stderr)
        events.finished("failed", "RuntimeError: the fake trainer was told to fail")
        return code
    adapter = Path(spec["output_dir"]) / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    weights = adapter / "adapter_model.safetensors"
    weights.write_bytes(b"fake weights")
    events.metric("loss", step=4, value=0.4, split="eval")
    if spec.get("kind") == "evaluate":  # as an evaluate job reports: the base at step 0, the candidate at 1
        events.metric("perplexity", step=0, value=5.0, split="eval")
        events.metric("perplexity", step=1, value=2.5, split="eval")
    events.artifact(
        name="adapter",
        artifact_kind="adapter",
        location=str(adapter),
        bytes=12,
        sha256=hashlib.sha256(b"fake weights").hexdigest(),
    )
    events.finished("succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
