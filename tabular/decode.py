"""Decode a text data file in one of the accepted encodings, and say which; never guess silently.

Accepted: UTF-8, UTF-8 with a byte-order mark, GBK and GB18030 (its superset). A file is read as UTF-8 when
it is valid UTF-8, else as GBK when valid GBK, else as GB18030 when valid GB18030 (each strictly, no byte
replaced); the encoding used is returned and shown with the table. A declared encoding is tried alone. Bytes
valid in none of them are an error naming the file and the offset of the first byte each encoding refused.
NUL bytes (UTF-16 text, binary files) are refused before any decoding, since GB18030 would take them as text.
"""

from __future__ import annotations

from core.bounded import InputRefusedError

BOM = b"\xef\xbb\xbf"
ACCEPTED = ("UTF-8", "GBK", "GB18030")
_CODECS = {"UTF-8": "utf-8", "UTF-8 with BOM": "utf-8", "GBK": "gbk", "GB18030": "gb18030"}
_ALIASES = {"utf8": "UTF-8", "utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gbk": "GBK", "cp936": "GBK",
            "gb2312": "GBK", "gb18030": "GB18030"}


class EncodingError(InputRefusedError):
    """A text file valid in none of the accepted encodings (or not in the one declared)."""

    code = "encoding"

    def __init__(self, what: str, *, name: str, offset: int) -> None:
        super().__init__(what, name=name, status=422)
        self.offset = offset


def decode_text(raw: bytes, name: str, declared: str | None = None) -> tuple[str, str]:
    """Return (text, encoding name) of a text file; raise EncodingError naming the file and the byte."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EncodingError("starts with a UTF-16 byte-order mark (bytes 0-1): UTF-16 is not accepted; "
                            "save the file as UTF-8 or GB18030", name=name, offset=0)
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise EncodingError(f"byte {nul} is a NUL byte (0x00): not UTF-8, GBK or GB18030 text "
                            "(UTF-16 text or a binary file?)", name=name, offset=nul)
    if declared is not None:
        return _declared(raw, name, declared)
    if raw.startswith(BOM):
        try:
            return raw[len(BOM):].decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError as exc:
            offset = exc.start + len(BOM)
            raise EncodingError(f"starts with a UTF-8 byte-order mark but byte {offset} "
                                f"(0x{raw[offset]:02X}) is not UTF-8", name=name, offset=offset) from None
    refused: list[tuple[str, int]] = []
    for encoding in ACCEPTED:
        try:
            return raw.decode(_CODECS[encoding]), encoding
        except UnicodeDecodeError as exc:
            refused.append((encoding, exc.start))
    # the encoding that reads furthest is the likeliest: its first refused byte is the one to show
    best, offset = max(refused, key=lambda r: r[1])
    byte = f"byte {offset} (0x{raw[offset]:02X})"
    if all(at == offset for _, at in refused):
        what = f"{byte} is not UTF-8, GBK or GB18030"
    else:
        others = ", ".join(f"{encoding} at byte {at}" for encoding, at in refused if encoding != best)
        what = f"{byte} is not {best}, which reads furthest ({others} stop earlier)"
    raise EncodingError(f"not text in any accepted encoding: {what}", name=name, offset=offset)


def _declared(raw: bytes, name: str, declared: str) -> tuple[str, str]:
    encoding = _ALIASES.get(declared.strip().lower())
    if encoding is None:
        raise InputRefusedError(f"declared encoding {declared!r} is not one we read (UTF-8, GBK, GB18030)",
                                name=name, status=422)
    body = raw[len(BOM):] if raw.startswith(BOM) and encoding.startswith("UTF-8") else raw
    skipped = len(raw) - len(body)
    try:
        return body.decode(_CODECS[encoding]), ("UTF-8 with BOM" if skipped else encoding)
    except UnicodeDecodeError as exc:
        offset = exc.start + skipped
        raise EncodingError(f"declared {encoding} but byte {offset} (0x{raw[offset]:02X}) is not {encoding}",
                            name=name, offset=offset) from None
