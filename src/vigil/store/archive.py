"""The encrypted archive a backup is written into: the whole file is AES-256-GCM under a key derived from
a passphrase with argon2id, so nothing in it (photos, crops, embeddings, the audit key, the manifest)
can be read or changed without the passphrase.

Layout (all lengths big-endian)::

    b"VIGILBAK" | format (1 byte) | header length (4) | header (JSON) | SHA-256 of the header (32)
    segment 0 | segment 1 | ... | segment n (the last: its final flag set)

    segment = ciphertext length (4) | AES-256-GCM ciphertext of up to ``segment_size`` bytes + 16-byte tag

The header names the key derivation (argon2id, salt, time cost, memory, lanes), a random 7-byte nonce
prefix, the segment size and a key check (the GCM tag of nothing under the derived key). Segment *i* is
sealed with the nonce ``prefix | i (4 bytes) | final flag (1 byte)`` and the whole preamble as associated
data (the STREAM construction): a reordered, dropped, replaced or added segment, an edited header or a
file cut short anywhere is refused, and a wrong passphrase is told apart from damage by the key check.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from dataclasses import dataclass
from typing import BinaryIO

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.errors import VigilError

MAGIC = b"VIGILBAK"
FORMAT = 1
SEGMENT_SIZE = 1 << 20  # 1 MiB of plaintext per segment
TAG = 16
# RFC 9106's second recommended argon2id setting (t=3, 64 MiB, 4 lanes): ~0.3 s on one core
TIME_COST, MEMORY_KIB, LANES = 3, 64 * 1024, 4
# what a header may ask for (a crafted archive must not make a restore spend a gigabyte or an hour)
MAX_TIME_COST, MAX_MEMORY_KIB, MAX_LANES, MAX_HEADER = 20, 1024 * 1024, 16, 4096
_CHECK_INDEX = 0xFFFF_FFFF  # the key check's nonce: an index no segment reaches


class ArchiveError(VigilError):
    """A backup archive that cannot be read: not one, cut short, damaged, or the wrong passphrase."""


class WrongPassphraseError(ArchiveError):
    """The passphrase does not open the archive."""


@dataclass(frozen=True)
class KeyDerivation:
    salt: bytes
    time_cost: int = TIME_COST
    memory_kib: int = MEMORY_KIB
    lanes: int = LANES

    def key(self, passphrase: str) -> bytes:
        return hash_secret_raw(
            passphrase.encode(),
            self.salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.lanes,
            hash_len=32,
            type=Type.ID,
        )


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


def _check_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise ArchiveError("the passphrase is empty")


class ArchiveWriter:
    """A write-only file object that seals what is written to ``sink`` segment by segment; ``close``
    writes the final segment (and must be called, or the archive reads as cut short)."""

    def __init__(
        self, sink: BinaryIO, passphrase: str, *, kdf: KeyDerivation | None = None, segment_size: int = SEGMENT_SIZE
    ) -> None:
        _check_passphrase(passphrase)
        self._sink = sink
        kdf = kdf or KeyDerivation(secrets.token_bytes(16))
        self._aead = AESGCM(kdf.key(passphrase))
        self._prefix = secrets.token_bytes(7)
        self._segment_size = segment_size
        check = self._aead.encrypt(_nonce(self._prefix, _CHECK_INDEX, True), b"", None)
        header = json.dumps(
            {
                "kdf": "argon2id",
                "salt": kdf.salt.hex(),
                "time_cost": kdf.time_cost,
                "memory_kib": kdf.memory_kib,
                "lanes": kdf.lanes,
                "cipher": "aes-256-gcm",
                "nonce_prefix": self._prefix.hex(),
                "segment_size": segment_size,
                "check": check.hex(),
            },
            sort_keys=True,
        ).encode()
        self._preamble = MAGIC + bytes([FORMAT]) + struct.pack(">I", len(header)) + header
        self._preamble += hashlib.sha256(header).digest()
        sink.write(self._preamble)
        self._buffer = bytearray()
        self._index = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed archive")
        self._buffer += data
        while len(self._buffer) > self._segment_size:  # keep at least one byte back: the last segment is final
            self._seal(bytes(self._buffer[: self._segment_size]), final=False)
            del self._buffer[: self._segment_size]
        return len(data)

    def _seal(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._index, final), plain, self._preamble)
        self._sink.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.closed = True


def _read_exact(source: BinaryIO, size: int, what: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise ArchiveError(f"the archive is truncated (it ends inside {what})")
    return data


class ArchiveReader:
    """A read-only file object over a sealed archive: each segment is authenticated before a byte of it
    is handed out. :meth:`finish` checks that the final segment was read and nothing follows it."""

    def __init__(self, source: BinaryIO, passphrase: str) -> None:
        _check_passphrase(passphrase)
        self._source = source
        magic = source.read(len(MAGIC))
        if magic != MAGIC:
            raise ArchiveError("not a Vigil backup archive" if len(magic) == len(MAGIC) else "the archive is truncated")
        version = _read_exact(source, 1, "its header")[0]
        if version != FORMAT:
            raise ArchiveError(f"archive format {version} is not one this Vigil reads (it reads {FORMAT})")
        (length,) = struct.unpack(">I", _read_exact(source, 4, "its header"))
        if length > MAX_HEADER:
            raise ArchiveError("the archive's header is damaged")
        header = _read_exact(source, length, "its header")
        if _read_exact(source, 32, "its header") != hashlib.sha256(header).digest():
            raise ArchiveError("the archive's header is damaged")
        try:
            fields = json.loads(header)
            kdf = KeyDerivation(
                bytes.fromhex(fields["salt"]), int(fields["time_cost"]), int(fields["memory_kib"]), int(fields["lanes"])
            )
            prefix, check = bytes.fromhex(fields["nonce_prefix"]), bytes.fromhex(fields["check"])
            self._segment_size = int(fields["segment_size"])
            if fields["kdf"] != "argon2id" or fields["cipher"] != "aes-256-gcm" or len(prefix) != 7:
                raise ValueError("unknown key derivation or cipher")
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"the archive's header is not one this Vigil reads ({exc})") from None
        if not (
            1 <= kdf.time_cost <= MAX_TIME_COST
            and 8 * kdf.lanes <= kdf.memory_kib <= MAX_MEMORY_KIB
            and 1 <= kdf.lanes <= MAX_LANES
            and 1 <= self._segment_size <= 64 << 20
        ):
            raise ArchiveError("the archive's header asks for key derivation or segment sizes out of bounds")
        self._aead = AESGCM(kdf.key(passphrase))
        self._prefix = prefix
        try:
            self._aead.decrypt(_nonce(prefix, _CHECK_INDEX, True), check, None)
        except InvalidTag:
            raise WrongPassphraseError("wrong passphrase: it does not open this archive") from None
        self._preamble = MAGIC + bytes([version]) + struct.pack(">I", length) + header + hashlib.sha256(header).digest()
        self._index = 0
        self._plain = b""
        self._offset = 0
        self._ended = False
        self.closed = False

    def _next_segment(self) -> None:
        head = self._source.read(4)
        if len(head) < 4:
            raise ArchiveError(f"the archive is truncated (it ends after {self._index} segments, before its last)")
        (length,) = struct.unpack(">I", head)
        if not TAG <= length <= self._segment_size + TAG:
            raise ArchiveError(f"the archive is damaged (segment {self._index} has an impossible length)")
        sealed = self._source.read(length)
        if len(sealed) < length:
            raise ArchiveError(f"the archive is truncated (it ends inside segment {self._index})")
        for final in (False, True):
            try:
                plain = self._aead.decrypt(_nonce(self._prefix, self._index, final), sealed, self._preamble)
            except InvalidTag:
                continue
            self._plain, self._offset, self._ended = plain, 0, final
            self._index += 1
            return
        raise ArchiveError(f"the archive is damaged (segment {self._index} does not authenticate)")

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            if self._offset >= len(self._plain):
                if self._ended:
                    break
                self._next_segment()
                continue
            want = (
                len(self._plain) - self._offset if size < 0 else min(size - len(out), len(self._plain) - self._offset)
            )
            out += self._plain[self._offset : self._offset + want]
            self._offset += want
        return bytes(out)

    def finish(self) -> None:
        """Read to the final segment; refuse anything after it."""
        while self.read(SEGMENT_SIZE):
            pass
        if self._source.read(1):
            raise ArchiveError("the archive is damaged (data follows its last segment)")

    def close(self) -> None:
        self.closed = True


def open_for_writing(path: os.PathLike[str] | str) -> BinaryIO:
    """A new file readable by its owner only (the archive is sealed, but its name and size are not)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return os.fdopen(fd, "wb")
