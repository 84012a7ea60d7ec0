"""The upload's JPEG bytes, encoded without holding the interpreter lock for the whole encode.

Why: Pillow encodes into a file object in one of two ways. Given a real file (one with a
`fileno()`), its C encoder writes to the descriptor with the interpreter lock released; given
an `io.BytesIO`, it runs the encoder chunk by chunk with the lock held. With two preparation
threads encoding back to back, a network thread woken by an answer waited for the lock (issue
17: "keep preparation from starving the network side"; benchmarks item 15 measures that wait,
p99 6.6-7.0 ms through BytesIO, 1.3-2.8 ms through the scratch file, docs/benchmarks.md).
So the JPEG goes to an anonymous in-memory file (Linux `memfd_create`: no disk, nothing left
behind, nothing named) and is read back as bytes.

Each scratch file is reused: one per preparation running at once (at most the preparation
threads of a run), emptied after each photo so it holds no memory between photos. The idle ones
outlive a run, so a process forked later (`multiprocessing`'s default on Linux, after a call of
`plantid_cli.identify`) would inherit them: not the files but the same open files, shared with
its parent and its siblings, where two encodes at once read back each other's photo and upload
it as their own (red team, session 19). A forked child therefore starts with none of them. Where
there is no `memfd_create` (not Linux), or the kernel refuses one (too many open files, a
sandbox that forbids the call), or a write to it fails, the photo is encoded into a BytesIO
as before: the same bytes, only with the lock held. A write that fails part-way is not always
an error Pillow raises (it takes a short write for a whole one), so what is read back must end
as every JPEG does, or it is thrown away and the photo encoded again into a BytesIO.

Stdlib only; Pillow's image object is passed in.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import queue
from typing import Any

#: Scratch files not in use now (one is taken per encode and given back after it).
_idle: queue.SimpleQueue[io.FileIO] = queue.SimpleQueue()
#: False once this system turned out to have no usable memfd_create: never asked again.
_memfd_available = hasattr(os, "memfd_create")
#: The marker every whole JPEG ends with (libjpeg writes it when the encode finishes).
_END_OF_IMAGE = b"\xff\xd9"
#: Refusals that will not change while the process lives (no such call, a seccomp filter).
_PERMANENT = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EINVAL})


def _forget_inherited() -> None:
    """In a forked child: the parent's scratch files are its own (closing them here closes
    only this process's descriptors); this process makes its own."""
    global _idle
    inherited, _idle = _idle, queue.SimpleQueue()
    while True:
        try:
            _discard(inherited.get_nowait())
        except queue.Empty:
            return


if hasattr(os, "register_at_fork"):  # POSIX: where there is fork at all
    os.register_at_fork(after_in_child=_forget_inherited)


def jpeg_bytes(picture: Any, options: dict[str, Any]) -> bytes:
    """`picture` (a Pillow image) as JPEG bytes, encoded with `options` (Pillow's save
    options: quality, icc_profile...)."""
    scratch = _take()
    if scratch is not None:
        try:
            data = _encode_into(scratch, picture, options)
        except OSError:
            # the scratch file failed (or the encoder did: then BytesIO raises it again)
            _discard(scratch)
        else:
            _idle.put(scratch)
            return data
    out = io.BytesIO()
    picture.save(out, "JPEG", **options)
    return out.getvalue()


def _encode_into(scratch: io.FileIO, picture: Any, options: dict[str, Any]) -> bytes:
    """Encode into the empty, unbuffered `scratch` (Pillow writes to its descriptor itself:
    no Python buffer can disagree with it), read it all back, empty it again."""
    descriptor = scratch.fileno()
    picture.save(scratch, "JPEG", **options)
    size = os.fstat(descriptor).st_size
    chunks, offset = [], 0
    while offset < size:
        chunk = os.pread(descriptor, size - offset, offset)
        if not chunk:
            raise OSError(errno.EIO, "the scratch file read back short")
        chunks.append(chunk)
        offset += len(chunk)
    os.ftruncate(descriptor, 0)  # no memory held between photos
    os.lseek(descriptor, 0, os.SEEK_SET)
    data = b"".join(chunks)
    if not data.endswith(_END_OF_IMAGE):
        # Pillow's C encoder takes a short write(2) for a whole one (it checks only for -1):
        # under a file-size limit (`ulimit -f`: EFBIG) or a full shared memory the scratch file
        # held a cut JPEG, which was uploaded as the photo (red team, session 15)
        global _memfd_available
        _memfd_available = False  # the limit holds for the process: BytesIO from now on
        raise OSError(errno.EFBIG, "the scratch file holds a cut JPEG")
    return data


def _take() -> io.FileIO | None:
    """An idle scratch file, a new one, or None (no memfd here, or none could be made)."""
    global _memfd_available
    try:
        return _idle.get_nowait()
    except queue.Empty:
        pass
    if not _memfd_available:
        return None
    try:
        # MFD_CLOEXEC: a child process (exiftool, a hook) never inherits it
        descriptor = os.memfd_create("plantid-jpeg", os.MFD_CLOEXEC)
    except OSError as exc:  # EMFILE, ENOMEM: this photo as before; ENOSYS, EPERM: for good
        if exc.errno in _PERMANENT:
            _memfd_available = False
        return None
    return io.FileIO(descriptor, "r+")


def _discard(scratch: io.FileIO) -> None:
    with contextlib.suppress(OSError):
        scratch.close()
