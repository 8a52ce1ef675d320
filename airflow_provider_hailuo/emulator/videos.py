"""The bytes of each task's video: the real sample MP4, made different for every task.

Were every task's file the same bytes, a client that saved task A's video as task B's, or kept
one file for a whole batch, would pass every test. So each file is the sample followed by one
more top-level MP4 ``free`` box (which players skip, so the file still plays) carrying the task
id, and :func:`task_id_of_video` reads it back: a test can tell whose video a file is.

Nothing here imports aiohttp or Airflow, so a test can read a downloaded file's owner cheaply.
"""

from __future__ import annotations

import functools
import struct
from importlib import resources

# The payload's prefix, so that a ``free`` box some other tool wrote is not taken for ours.
_MARKER = b"hailuo-emulator-task:"
_BOX_HEADER = struct.Struct(">I4s")
_LARGE_SIZE = struct.Struct(">Q")
# A box's 32-bit size field holds one of these instead of a size when the size does not fit it.
_SIZE_TO_END = 0
_SIZE_IS_LARGE = 1


@functools.cache
def sample_video() -> bytes:
    """The real H.264 MP4 (a few KB, read once per process) every task's video starts with."""
    return resources.files("airflow_provider_hailuo.emulator").joinpath("assets/sample.mp4").read_bytes()


def _free_box(payload: bytes) -> bytes:
    return _BOX_HEADER.pack(_BOX_HEADER.size + len(payload), b"free") + payload


def video_bytes_for(task_id: str) -> bytes:
    """Task ``task_id``'s video: the sample MP4, still playable, plus a ``free`` box naming the task."""
    return sample_video() + _free_box(_MARKER + task_id.encode("utf-8"))


def task_id_of_video(data: bytes) -> str | None:
    """The id of the task whose video ``data`` is, or ``None`` if it is not a whole emulator video.

    Only whole top-level boxes are read, so a file cut short before its last box (a truncated
    download) has no owner: a test cannot mistake half a file for the video.
    """
    offset = 0
    while offset + _BOX_HEADER.size <= len(data):
        size, kind = _BOX_HEADER.unpack_from(data, offset)
        header = _BOX_HEADER.size
        if size == _SIZE_IS_LARGE:
            if offset + header + _LARGE_SIZE.size > len(data):
                return None
            (size,) = _LARGE_SIZE.unpack_from(data, offset + header)
            header += _LARGE_SIZE.size
        elif size == _SIZE_TO_END:
            size = len(data) - offset
        if size < header or offset + size > len(data):
            return None
        payload = data[offset + header : offset + size]
        if kind == b"free" and payload.startswith(_MARKER):
            try:
                return payload[len(_MARKER) :].decode("utf-8")
            except UnicodeDecodeError:
                return None
        offset += size
    return None
