"""Build hostile XLSX workbooks in memory for the hardening tests (no file is kept)."""

from __future__ import annotations

import io
import zipfile

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
    'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
    '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships '
    'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
    'Target="sharedStrings.xml"/></Relationships>')
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook(sheet_rows: str | bytes, shared: list[str] | bytes | None = None, *, chunks=None) -> bytes:
    """Return XLSX bytes with one sheet (its <sheetData> content) and a shared-string table."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        head = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
        body = sheet_rows.encode() if isinstance(sheet_rows, str) else sheet_rows
        z.writestr("xl/worksheets/sheet1.xml", head + body + b"</sheetData></worksheet>")
        if isinstance(shared, bytes):
            z.writestr("xl/sharedStrings.xml", shared)
        else:
            items = "".join(f"<si><t>{s}</t></si>" for s in (shared or []))
            z.writestr("xl/sharedStrings.xml", f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" '
                                                f'count="{len(shared or [])}">{items}</sst>')
    return out.getvalue()


def streamed_part(z: zipfile.ZipFile, name: str, pieces) -> None:
    """Write one zip part from an iterable of byte pieces (a large part without holding it whole)."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with z.open(info, "w", force_zip64=True) as part:
        for piece in pieces:
            part.write(piece)


def huge_cell(chars: int = 200 * 1024 * 1024) -> bytes:
    """One inline-string cell of `chars` characters (the 205 KB → 200 MB cell of the issue)."""
    return _bomb([b'<row r="1"><c r="A1" t="inlineStr"><is><t>'] + [b"x" * (1 << 20)] * (chars >> 20)
                 + [b"</t></is></c></row>"], shared=b"")


def many_shared_strings(count: int = 5_000_000) -> bytes:
    """A table of `count` one-character shared strings and one cell using the first."""
    head = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{count}">'.encode()
    step = 100_000
    pieces = [head] + [b"<si><t>a</t></si>" * step] * (count // step) + [b"</sst>"]
    return _bomb([b'<row r="1"><c r="A1" t="s"><v>0</v></c></row>'], shared=pieces)


def _bomb(sheet_pieces, shared) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        head = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>'.encode()
        streamed_part(z, "xl/worksheets/sheet1.xml", [head, *sheet_pieces, b"</sheetData></worksheet>"])
        if isinstance(shared, bytes):
            shared = [f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="0"></sst>'.encode()]
        streamed_part(z, "xl/sharedStrings.xml", shared)
    return out.getvalue()
