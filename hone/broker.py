"""The embedded broker: kombu's filesystem transport, with messages written atomically.

kombu's filesystem channel creates a message file, then writes it. A worker polling the folder
can take the file in between, read it empty and stop with "Unrecoverable error:
JSONDecodeError", which ends `make run`. Here each message is written under a name the worker
ignores and renamed into place once complete (a rename within one folder is atomic), so a
worker only ever sees whole messages.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.partial"  # not "<queue>.msg": the worker skips it
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
