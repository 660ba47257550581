"""Read labelled text files into a table, map columns, validate and split.

Supported layouts:

- ``csv`` / ``tsv``: delimited text with the delimiter sniffed (``,``, tab, ``;``, ``|``).
- ``jsonl``: one JSON object per line.
- ``parquet``: Apache Parquet.
- ``prefixed``: ``<label><space><text>`` per line (the SST ``stsa.binary.*`` layout,
  and fastText's ``__label__<label> <text>``).
- ``lines``: one text per line, with the label taken from the file name (the MR
  ``rt-polarity.pos`` / ``rt-polarity.neg`` layout).

Text is split into rows on ``\\n`` and ``\\r\\n`` only, never with ``str.splitlines``:
that would also break on U+0085, U+2028 and other characters that legitimately
occur inside a text field once Windows-1252 bytes are decoded.

Every reader either returns a complete table or raises :class:`DataLoadError`
whose message names the file, the row or column, and what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from core.messages import Message
from core.vocabulary import VocabularyCoverage, vocabulary_coverage

logger = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "prefixed", "lines")
QUOTING_MODES = ("auto", "standard", "none")
DELIMITER_CANDIDATES = (",", "\t", ";", "|")
SPLIT_NAMES = ("train", "validation", "test")
UNLABELLED_SPLIT = "unlabelled"

# Standard column names of a mapped dataset; other source columns are kept as metadata.
ROW_COLUMN = "row"
ID_COLUMN = "id"
TEXT_COLUMN = "text"
LABEL_COLUMN = "label"
CONFIDENCE_COLUMN = "annotator_confidence"
SPLIT_COLUMN = "split"
STANDARD_COLUMNS = (ROW_COLUMN, ID_COLUMN, TEXT_COLUMN, LABEL_COLUMN, CONFIDENCE_COLUMN, SPLIT_COLUMN)

_EXTENSION_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# Extensions that mark plain text rather than naming a label.
_TEXT_EXTENSIONS = {".txt", ".text", ""}
_FASTTEXT_PREFIX = "__label__"
_SNIFF_LINES = 200

GB18030 = "gb18030"
# Python codec names (after codecs.lookup) that GB18030 contains.
_GB_CODECS = {"gb2312", "gbk", "gb18030"}
# Share of a file's non-ASCII characters that must be GB2312 characters before detection
# reads it as GB18030. Real Chinese text is nearly all GB2312 (rare names and emoji are the
# exceptions); misread Windows-1252 text has almost none.
GB2312_MIN_SHARE = 0.8
_REPLACEMENT_CHARACTER = "\ufffd"
_ASCII_RUNS = re.compile(r"[\x00-\x7f]+")


class DataLoadError(ValueError):
    """A data file cannot be read or mapped. The message names the file, the row or column, and a fix."""


# --------------------------------------------------------------------------- decoding


def _windows_1252_passthrough(error: UnicodeDecodeError) -> tuple[str, int]:
    # The five bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to
    # the same code points as in Latin-1, as the WHATWG encoding standard does.
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("uncertainty_explorer_1252", _windows_1252_passthrough)


def _line_of_offset(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode_bytes(raw: bytes, *, encoding: str = "auto", name: str = "<data>") -> tuple[str, str, list[str]]:
    """Decode file bytes, detecting the encoding when ``encoding`` is ``"auto"``.

    Detection order: UTF-8 with BOM, UTF-16 with BOM, UTF-8, then GB18030 when the
    bytes read as Chinese text (see :func:`looks_like_gb18030`), else Windows-1252
    (a superset of Latin-1 for printable text). Both fallbacks add a warning that
    names the encoding used.

    An explicit ``"gb2312"``, ``"gbk"`` (``"cp936"``) or ``"gb18030"`` is decoded as
    GB18030, which contains both older sets, so a file labelled GBK that also contains
    GB18030-only characters still reads.

    Returns:
        ``(text, encoding_used, warnings)``.
    """
    warnings: list[str] = []
    if encoding != "auto":
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise DataLoadError(
                f"{name}: unknown encoding {encoding!r}. Use a Python codec name such as "
                "'utf-8', 'gb18030', 'cp1252' or 'latin-1', or 'auto' to detect it."
            ) from exc
        if codec in _GB_CODECS:
            encoding = GB18030
        # Windows-1252 leaves five bytes undefined, and they pass through as the Latin-1 control
        # characters of the same value, as in the detected fallback below.
        errors = "uncertainty_explorer_1252" if codec == "cp1252" else "strict"
        try:
            return raw.decode(encoding, errors=errors), encoding, warnings
        except UnicodeDecodeError as exc:
            raise DataLoadError(
                f"{name}: bytes at line {_line_of_offset(raw, exc.start)} are not valid {encoding} "
                f"({exc.reason}). Pick another encoding or use 'auto'."
            ) from exc

    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig", warnings
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", warnings
        except UnicodeDecodeError as exc:
            raise DataLoadError(f"{name}: starts with a UTF-16 byte-order mark but is not valid UTF-16.") from exc
    try:
        return raw.decode("utf-8"), "utf-8", warnings
    except UnicodeDecodeError as exc:
        first_bad_line = _line_of_offset(raw, exc.start)

    chinese = _decode_gb18030_if_chinese(raw)
    if chinese is not None:
        text, invalid_sequences = chinese
        if invalid_sequences:
            warnings.append(Message(
                "read_gb18030_replaced",
                "{name} is not valid UTF-8 (first invalid byte on line {line}); its bytes read as Chinese text, so "
                "it was read as GB18030 (which contains GBK and GB2312). {invalid} byte sequence(s) are not valid "
                "GB18030 and were replaced with U+FFFD; re-export the file as UTF-8 to keep them. If the text "
                "looks wrong, choose the encoding explicitly.",
                name=name, line=first_bad_line, invalid=invalid_sequences,
            ))
        else:
            warnings.append(Message(
                "read_gb18030",
                "{name} is not valid UTF-8 (first invalid byte on line {line}); its bytes read as Chinese text, so "
                "it was read as GB18030 (which contains GBK and GB2312). If the text looks wrong, choose the "
                "encoding explicitly.",
                name=name, line=first_bad_line,
            ))
        return text, GB18030, warnings

    text = raw.decode("cp1252", errors="uncertainty_explorer_1252")
    warnings.append(Message(
        "read_cp1252",
        "{name} is not valid UTF-8 (first invalid byte on line {line}); it was read as Windows-1252 / Latin-1. "
        "If accented characters look wrong, save the file as UTF-8 or choose the encoding explicitly.",
        name=name, line=first_bad_line,
    ))
    return text, "windows-1252", warnings


def looks_like_gb18030(raw: bytes) -> bool:
    """Return whether bytes that are not UTF-8 are most likely Chinese text in GB18030, GBK or GB2312.

    See :func:`_decode_gb18030_if_chinese` for the rule.
    """
    return _decode_gb18030_if_chinese(raw) is not None


def _decode_gb18030_if_chinese(raw: bytes) -> tuple[str, int] | None:
    """Decode ``raw`` as GB18030 when it reads as Chinese text; return ``(text, invalid sequences)`` or ``None``.

    Chinese text in any GB encoding is mostly characters of the GB2312 set, whose two
    bytes are both in 0xA1-0xFE. Western Windows-1252 text that happens to decode as
    GB18030 pairs an accented letter (0xC0-0xFF) with the ASCII byte after it, which
    gives GBK-extension characters outside GB2312, or invalid sequences after a space
    or punctuation. So the file is taken as GB18030 when at least
    :data:`GB2312_MIN_SHARE` of its non-ASCII characters (invalid sequences counted
    as such) are GB2312 characters and at least one of them is a CJK ideograph.

    NOTE: EUC-KR (Korean) and EUC-JP (Japanese) use the same byte ranges as GB2312,
    so files in them pass this check and are read as GB18030. Big5 (traditional
    Chinese) is not detected. Such files need their encoding given explicitly.
    """
    text = raw.decode(GB18030, errors="replace")
    non_ascii = Counter(_ASCII_RUNS.sub("", text))
    # A U+FFFD stored in the file itself (4 bytes in GB18030) counts as invalid too. That
    # overcount can only make the check stricter.
    invalid_sequences = non_ascii.pop(_REPLACEMENT_CHARACTER, 0)
    total = sum(non_ascii.values()) + invalid_sequences
    if total == 0:
        return None
    in_gb2312 = 0
    ideographs = 0
    for character, count in non_ascii.items():
        if _in_gb2312(character):
            in_gb2312 += count
            if _is_cjk_ideograph(character):
                ideographs += count
    if ideographs == 0 or in_gb2312 / total < GB2312_MIN_SHARE:
        return None
    return text, invalid_sequences


def _in_gb2312(character: str) -> bool:
    try:
        character.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _is_cjk_ideograph(character: str) -> bool:
    code_point = ord(character)
    return 0x4E00 <= code_point <= 0x9FFF or 0x3400 <= code_point <= 0x4DBF


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` (dropping a trailing ``\\r``), and drop one final empty line.

    Unlike ``str.splitlines`` this never breaks inside a line at U+0085, U+2028,
    form feeds or other Unicode line separators.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# --------------------------------------------------------------------------- table


@dataclass
class RawTable:
    """A file read into string columns, before any column mapping.

    Attributes:
        frame: One row per record, columns as in the file (all ``object`` dtype for
            text formats; Parquet keeps its dtypes).
        name: File name used in messages.
        format: One of :data:`FORMATS` except ``"auto"``.
        encoding: Encoding used to decode, or ``None`` for Parquet.
        delimiter: Field delimiter for delimited text, else ``None``.
        header: Whether the first line was read as column names.
        warnings: Problems that did not stop reading (encoding fallback, quotes).
    """

    frame: pd.DataFrame
    name: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    header: bool = True
    warnings: list[str] = field(default_factory=list)


def _read_source(source: str | Path | bytes, name: str | None) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), name or "<uploaded file>"
    path = Path(source)
    display = name or path.name
    if not path.exists():
        raise DataLoadError(f"{path}: file not found. Check the path.")
    if path.is_dir():
        raise DataLoadError(f"{path} is a folder; give a data file (CSV, TSV, JSON Lines, Parquet or text).")
    try:
        return path.read_bytes(), display
    except OSError as exc:
        raise DataLoadError(f"{path}: cannot be read ({exc.strerror}).") from exc


def _suffix(name: str) -> str:
    return Path(name).suffix.lower()


def read_table(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    format: str = "auto",  # noqa: A002 - the user-facing option is called "format"
    encoding: str = "auto",
    delimiter: str = "auto",
    header: bool | str = "auto",
    quoting: str = "auto",
) -> RawTable:
    """Read one data file (a path or its bytes) into a :class:`RawTable`.

    Args:
        source: Path of the file, or its bytes (an upload); ``name`` then labels it.
        format: One of :data:`FORMATS`; ``"auto"`` uses the extension, then the content.
        encoding: Codec name, or ``"auto"`` (see :func:`decode_bytes`).
        delimiter: One character, or ``"auto"`` to sniff among :data:`DELIMITER_CANDIDATES`.
        header: ``True``, ``False`` or ``"auto"`` (delimited text only).
        quoting: ``"standard"`` for RFC 4180 double quotes, ``"none"`` to keep quotes as
            literal text, ``"auto"`` to fall back to ``"none"`` when quotes would merge rows.

    Raises:
        DataLoadError: with the file, the line and a remedy.
    """
    if format not in FORMATS:
        raise DataLoadError(f"format must be one of {', '.join(FORMATS)}; got {format!r}.")
    if quoting not in QUOTING_MODES:
        raise DataLoadError(f"quoting must be one of {', '.join(QUOTING_MODES)}; got {quoting!r}.")
    if delimiter != "auto" and len(delimiter) != 1:
        raise DataLoadError(f"delimiter must be a single character or 'auto'; got {delimiter!r}.")
    if header not in (True, False, "auto"):
        raise DataLoadError(f"header must be true, false or 'auto'; got {header!r}.")

    raw, display = _read_source(source, name)
    if format == "auto":
        format = _EXTENSION_FORMATS.get(_suffix(display), "auto")  # noqa: A001
    if format == "parquet":
        return _read_parquet(raw, display)
    if not raw.strip():
        raise DataLoadError(f"{display} is empty. Choose a file with at least one row of text.")

    text, used_encoding, warnings = decode_bytes(raw, encoding=encoding, name=display)
    if "\x00" in text:
        raise DataLoadError(
            f"{display} contains NUL bytes, so it is probably binary or UTF-16 without a byte-order "
            "mark. Export it as UTF-8 text, or give the encoding."
        )
    lines = split_lines(text)

    if format == "auto":
        format = _sniff_format(lines, display)  # noqa: A001
    if format == "jsonl":
        frame = _parse_jsonl(lines, display)
        return RawTable(frame, display, "jsonl", used_encoding, None, True, warnings)
    if format == "prefixed":
        frame = _parse_prefixed(lines, display)
        return RawTable(frame, display, "prefixed", used_encoding, None, False, warnings)
    if format == "lines":
        frame = _lines_frame(lines, display)
        return RawTable(frame, display, "lines", used_encoding, None, False, warnings)

    if delimiter == "auto":
        delimiter = "\t" if format == "tsv" else (_sniff_delimiter(lines) or ",")
    frame, has_header, parse_warnings = _parse_delimited(text, lines, display, delimiter, header, quoting)
    fmt = "tsv" if delimiter == "\t" else "csv"
    return RawTable(frame, display, fmt, used_encoding, delimiter, has_header, warnings + parse_warnings)


def _read_parquet(raw: bytes, display: str) -> RawTable:
    try:
        frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt input
        raise DataLoadError(f"{display} is not a readable Parquet file ({exc}). Re-export it, or pick CSV.") from exc
    if frame.empty:
        raise DataLoadError(f"{display} has no rows.")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(column) for column in frame.columns]
    return RawTable(frame, display, "parquet", None, None, True, [])


def _sniff_format(lines: list[str], display: str) -> str:
    sample = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    if not sample:
        raise DataLoadError(f"{display} contains only blank lines.")
    if all(line.lstrip().startswith("{") for line in sample[:20]):
        return "jsonl"
    if _sniff_delimiter(sample) is not None:
        return "csv"
    if _looks_prefixed(sample):
        return "prefixed"
    return "lines"


def _sniff_delimiter(lines: list[str]) -> str | None:
    """Return the candidate delimiter that splits nearly every sample line into the same width."""
    sample = [line for line in lines[:_SNIFF_LINES] if line.strip()]
    if len(sample) < 2:
        return None
    best: tuple[float, str] | None = None
    for candidate in DELIMITER_CANDIDATES:
        widths = Counter()
        for line in sample:
            try:
                row = next(csv.reader([line], delimiter=candidate))
            except (csv.Error, StopIteration):
                continue
            widths[len(row)] += 1
        if not widths:
            continue
        width, count = widths.most_common(1)[0]
        share = count / len(sample)
        if width >= 2 and share >= 0.9 and (best is None or share > best[0]):
            best = (share, candidate)
    return best[1] if best else None


def _looks_prefixed(sample: list[str]) -> bool:
    firsts = [line.split(" ", 1)[0] for line in sample]
    if not all(" " in line for line in sample):
        return False
    distinct = set(firsts)
    short = all(len(token) <= 24 for token in firsts)
    return short and len(distinct) <= max(2, min(50, len(sample) // 10))


def _parse_prefixed(lines: list[str], display: str) -> pd.DataFrame:
    labels, texts, rows = [], [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, sep, text = line.partition(" ")
        if not sep:
            raise DataLoadError(
                f"{display}, line {number}: expected '<label> <text>' but found no space in {line[:60]!r}. "
                "Fix the line or choose another format."
            )
        if label.startswith(_FASTTEXT_PREFIX):
            label = label[len(_FASTTEXT_PREFIX) :]
        labels.append(label)
        texts.append(text)
        rows.append(number)
    return pd.DataFrame({"label": labels, "text": texts, "line": rows}, dtype=object)


def label_from_file_name(name: str) -> str:
    """Return the label a one-text-per-line file carries in its name.

    ``rt-polarity.pos`` gives ``pos``; ``positive.txt`` gives ``positive``.
    """
    path = Path(name)
    if path.suffix.lower() in _TEXT_EXTENSIONS:
        return path.stem
    return path.suffix[1:]


def _lines_frame(lines: list[str], display: str) -> pd.DataFrame:
    texts = list(lines)
    return pd.DataFrame(
        {"text": texts, "label": [label_from_file_name(display)] * len(texts), "line": range(1, len(texts) + 1)},
        dtype=object,
    )


def read_line_files(sources: Sequence[str | Path | tuple[str, bytes]], *, encoding: str = "auto") -> RawTable:
    """Read one-text-per-line files whose names carry the label and stack them.

    Args:
        sources: Paths, or ``(file name, bytes)`` pairs for uploads.

    Raises:
        DataLoadError: when fewer than one file is given, two files carry the same label
            from different names is fine, but an unreadable file names itself.
    """
    if not sources:
        raise DataLoadError("No files given. Choose one text file per class, named after the class.")
    frames, warnings, encodings = [], [], []
    for source in sources:
        if isinstance(source, tuple):
            file_name, raw = source
            raw, display = _read_source(raw, file_name)
        else:
            raw, display = _read_source(source, None)
        text, used, file_warnings = decode_bytes(raw, encoding=encoding, name=display)
        frame = _lines_frame(split_lines(text), display)
        frame.insert(0, "file", display)
        frames.append(frame)
        warnings.extend(file_warnings)
        encodings.append(used)
    combined = pd.concat(frames, ignore_index=True)
    encoding_used = encodings[0] if len(set(encodings)) == 1 else ", ".join(sorted(set(encodings)))
    name = " + ".join(str(frame["file"].iloc[0]) for frame in frames if len(frame))
    return RawTable(combined, name, "lines", encoding_used, None, False, warnings)


def _parse_jsonl(lines: list[str], display: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataLoadError(
                f"{display}, line {number}: not valid JSON ({exc.msg} at column {exc.colno}). "
                "Each line must hold one JSON object."
            ) from exc
        if not isinstance(value, dict):
            raise DataLoadError(
                f"{display}, line {number}: expected a JSON object, got {type(value).__name__}. "
                "Each line must hold one object such as {\"text\": ..., \"label\": ...}."
            )
        records.append(
            {key: json.dumps(item) if isinstance(item, (dict, list)) else item for key, item in value.items()}
        )
    if not records:
        raise DataLoadError(f"{display} has no JSON objects.")
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- delimited text


def _unquote_literal(value: str) -> str:
    # Strip one pair of surrounding quotes only when the inside is a well-formed quoted field.
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        if '"' not in inner.replace('""', ""):
            return inner.replace('""', '"')
    return value


def _parse_line_wise(lines: list[str], delimiter: str, width: int | None) -> list[list[str]] | None:
    """Parse each physical line on its own, keeping quotes as text where that fits the width.

    Returns ``None`` when some line does not split into the expected width.
    """
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        literal = line.split(delimiter)
        if width is None:
            width = len(literal)
        if len(literal) == width:
            rows.append([_unquote_literal(value) for value in literal])
            continue
        try:
            quoted = next(csv.reader([line], delimiter=delimiter, strict=True))
        except (csv.Error, StopIteration):
            return None
        if len(quoted) != width:
            return None
        rows.append(quoted)
    return rows


def _parse_standard(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [row for row in reader if row and any(cell.strip() for cell in row)]


def _first_width_mismatch(rows: list[list[str]], width: int) -> int | None:
    for index, row in enumerate(rows):
        if len(row) != width:
            return index
    return None


def _parse_delimited(
    text: str,
    lines: list[str],
    display: str,
    delimiter: str,
    header: bool | str,
    quoting: str,
) -> tuple[pd.DataFrame, bool, list[str]]:
    warnings: list[str] = []
    delimiter_name = "tab" if delimiter == "\t" else repr(delimiter)

    if quoting == "none":
        rows = _parse_line_wise(lines, delimiter, None)
        if rows is None:
            rows = [line.split(delimiter) for line in lines if line.strip()]
    else:
        try:
            rows = _parse_standard(text, delimiter)
        except csv.Error as exc:
            rows = []
            standard_error: str | None = str(exc)
        else:
            standard_error = None
        spans_lines = any(("\n" in cell or "\r" in cell) for row in rows for cell in row)
        uneven = bool(rows) and _first_width_mismatch(rows, len(rows[0])) is not None
        if quoting == "auto" and (standard_error or spans_lines or uneven):
            expected = len(rows[0]) if rows else None
            line_rows = _parse_line_wise(lines, delimiter, expected)
            merged = sum(1 for line in lines if line.strip()) - len(rows)
            standard_consistent = (
                standard_error is None and rows and _first_width_mismatch(rows, len(rows[0])) is None
            )
            if line_rows is not None and (merged > 0 or not standard_consistent):
                opened = sum(1 for line in lines for cell in line.split(delimiter) if cell.startswith('"'))
                warnings.append(Message(
                    "read_quotes_as_text",
                    "{name}: {opened} field(s) start with a double quote, and reading them as quoted fields would "
                    "merge {merged} rows, so each line was read as one row. A field wrapped in quotes on its own "
                    "line loses the outer quotes; any other quote stays as text.",
                    name=display, opened=opened, merged=max(merged, 0),
                ))
                rows = line_rows
        elif standard_error:
            raise DataLoadError(
                f"{display}: cannot parse with {delimiter_name} as delimiter ({standard_error}). "
                "Check for an unclosed double quote, or set quoting to 'none'."
            )

    if not rows:
        raise DataLoadError(f"{display} has no rows.")
    width = len(rows[0])
    mismatch = _first_width_mismatch(rows, width)
    if mismatch is not None:
        raise DataLoadError(
            f"{display}: record {mismatch + 1} has {len(rows[mismatch])} fields but record 1 has {width} "
            f"(delimiter {delimiter_name}). Quote fields that contain the delimiter, fix the row, or "
            "choose another delimiter."
        )

    has_header = _detect_header(rows) if header == "auto" else bool(header)
    if has_header:
        names = _clean_header(rows[0], warnings, display)
        body = rows[1:]
    else:
        names = [f"column_{index + 1}" for index in range(width)]
        body = rows
    if not body:
        raise DataLoadError(f"{display} has a header but no data rows.")
    frame = pd.DataFrame(body, columns=names, dtype=object)
    return frame, has_header, warnings


def _detect_header(rows: list[list[str]]) -> bool:
    """Guess whether the first row contains column names.

    Column names are short, non-numeric, and do not occur again as values
    in their column (a label such as ``ham`` recurs, a name such as ``label`` does not).
    """
    first = rows[0]
    if len(rows) < 2:
        return False
    if any(not cell.strip() or len(cell) > 64 for cell in first):
        return False
    for cell in first:
        try:
            float(cell)
        except ValueError:
            continue
        return False
    later = rows[1 : 1 + _SNIFF_LINES]
    for column, cell in enumerate(first):
        if any(len(row) > column and row[column] == cell for row in later):
            return False
    return True


def _clean_header(names: list[str], warnings: list[str], display: str) -> list[str]:
    cleaned: list[str] = []
    seen: Counter[str] = Counter()
    for index, raw_name in enumerate(names):
        base = raw_name.strip() or f"column_{index + 1}"
        seen[base] += 1
        name = base if seen[base] == 1 else f"{base}_{seen[base]}"
        if name != raw_name:
            warnings.append(Message(
                "read_header_renamed", "{name}: column {column} header {old!r} was renamed to {new!r}.",
                name=display, column=index + 1, old=raw_name, new=name,
            ))
        cleaned.append(name)
    return cleaned


# --------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class ColumnMapping:
    """Source column names for the text, the label, an optional id and annotator confidence."""

    text: str
    label: str | None = None
    id: str | None = None
    confidence: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "label": self.label, "id": self.id, "confidence": self.confidence}


_TEXT_NAMES = ("text", "sentence", "tweet", "review", "content", "comment", "document", "body", "message", "utterance")
_LABEL_NAMES = ("label", "labels", "sentiment", "class", "category", "target", "y", "gold", "polarity", "intent")
_ID_NAMES = ("id", "uid", "guid", "idx", "index", "row_id", "sample_id", "tweet_id")
_CONFIDENCE_NAMES = ("confidence", "annotator_confidence", "agreement", "label_confidence", "score")


def _match_column(columns: Sequence[str], candidates: Iterable[str], exclude: set[str]) -> str | None:
    by_lower = {column.lower().strip(): column for column in columns if column not in exclude}
    for candidate in candidates:
        if candidate in by_lower:
            return by_lower[candidate]
    return None


def guess_mapping(table: RawTable) -> ColumnMapping:
    """Propose a column mapping from column names, falling back to the longest-text column."""
    frame = table.frame
    columns = [str(column) for column in frame.columns]
    used: set[str] = set()
    text = _match_column(columns, _TEXT_NAMES, used)
    if text is None:
        lengths = {
            column: frame[column].astype(str).str.len().mean()
            for column in columns
            if frame[column].dtype == object
        }
        text = max(lengths, key=lengths.get) if lengths else columns[0]
    used.add(text)
    label = _match_column(columns, _LABEL_NAMES, used)
    if label is None:
        candidates = [
            column
            for column in columns
            if column not in used and column not in {"line", "file"} and 1 < frame[column].nunique() <= 50
        ]
        label = candidates[0] if candidates else None
    if label:
        used.add(label)
    identifier = _match_column(columns, _ID_NAMES, used)
    if identifier:
        used.add(identifier)
    confidence = _match_column(columns, _CONFIDENCE_NAMES, used)
    return ColumnMapping(text=text, label=label, id=identifier, confidence=confidence)


def _normalise_label(value: object) -> str | None:
    # pd.NA marks missing values in pandas nullable columns (Int64, string), as Parquet restores them.
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (np.floating,)):
        return _normalise_label(float(value))
    if isinstance(value, (np.integer, int, bool)):
        return str(int(value))
    label = str(value).strip()
    return label or None


def apply_mapping(table: RawTable, mapping: ColumnMapping) -> pd.DataFrame:
    """Return the mapped dataset: standard columns first, the rest kept as metadata.

    Columns: ``row`` (0-based position in the file), ``id`` (the id column, or the row
    number as text), ``text``, ``label`` (string, ``None`` where missing),
    ``annotator_confidence`` (float, NaN where missing), then every other source column.

    Raises:
        DataLoadError: a mapped column does not exist, two roles share a column, or the
            confidence column contains values that are not numbers.
    """
    frame = table.frame
    columns = [str(column) for column in frame.columns]
    roles = mapping.as_dict()
    for role, column in roles.items():
        if column is not None and column not in columns:
            raise DataLoadError(
                f"{table.name}: the {role} column {column!r} does not exist. Available columns: "
                f"{', '.join(columns)}."
            )
    chosen = [column for column in roles.values() if column is not None]
    duplicates = {column for column in chosen if chosen.count(column) > 1}
    if duplicates:
        raise DataLoadError(
            f"{table.name}: column {sorted(duplicates)[0]!r} is mapped to more than one role. "
            "Choose a different column for each of text, label, id and confidence."
        )

    out = pd.DataFrame({ROW_COLUMN: np.arange(len(frame), dtype=np.int64)})
    if mapping.id is not None:
        identifiers = frame[mapping.id]
        # A row without an id gets its row number, so every row stays addressable.
        missing_id = identifiers.isna() | (identifiers.astype(str).str.strip() == "")
        out[ID_COLUMN] = np.where(missing_id, out[ROW_COLUMN].astype(str), identifiers.astype(str))
    else:
        out[ID_COLUMN] = out[ROW_COLUMN].astype(str)
    texts = frame[mapping.text]
    out[TEXT_COLUMN] = [
        ("" if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else str(value))
        for value in texts
    ]
    if mapping.label is not None:
        out[LABEL_COLUMN] = pd.Series([_normalise_label(value) for value in frame[mapping.label]], dtype=object)
    else:
        out[LABEL_COLUMN] = pd.Series([None] * len(frame), dtype=object)
    if mapping.confidence is not None:
        raw_conf = frame[mapping.confidence]
        numeric = pd.to_numeric(raw_conf.replace({"": None}), errors="coerce")
        bad = numeric.isna() & raw_conf.notna() & (raw_conf.astype(str).str.strip() != "")
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataLoadError(
                f"{table.name}: confidence column {mapping.confidence!r} has a non-numeric value "
                f"{raw_conf.iloc[first]!r} in data row {first + 1}. Choose another column or no confidence column."
            )
        out[CONFIDENCE_COLUMN] = numeric.astype(float).to_numpy()
    else:
        out[CONFIDENCE_COLUMN] = np.nan
    for column in columns:
        if column in chosen:
            continue
        target = column if column not in STANDARD_COLUMNS else f"{column}_source"
        out[target] = frame[column].to_numpy()
    return out


def label_names(labels: Iterable[str | None]) -> list[str]:
    """Return the sorted distinct labels: numerically when all are integers, else alphabetically."""
    distinct = {label for label in labels if label is not None}
    try:
        return sorted(distinct, key=int)
    except ValueError:
        return sorted(distinct)


# --------------------------------------------------------------------------- validation


@dataclass
class ValidationReport:
    """Counts a user needs before training on a mapped dataset.

    ``blocking`` lists problems that prevent training; ``warnings`` lists the rest.
    """

    source: str
    rows_read: int
    empty_texts: int
    missing_labels: int
    exact_duplicates: int
    conflicting_texts: int
    conflicting_rows: int
    class_counts: dict[str, int]
    confidence_present: int
    truncated_texts: int | None = None
    max_length: int | None = None
    token_length_p50: float | None = None
    token_length_p95: float | None = None
    encoding: str | None = None
    vocabulary: VocabularyCoverage | None = None
    warnings: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)

    @property
    def usable_rows(self) -> int:
        return self.rows_read - self.empty_texts - self.missing_labels

    def to_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items()}


def validate_dataset(
    dataset: pd.DataFrame,
    *,
    source: str = "<data>",
    tokenizer=None,
    max_length: int | None = None,
    encoding: str | None = None,
    warnings: Sequence[str] = (),
    min_per_class: int = 3,
) -> ValidationReport:
    """Count empty texts, duplicates, conflicting labels, class balance and truncation.

    Args:
        dataset: Output of :func:`apply_mapping`.
        tokenizer: When given, its unknown-token share over a sample of the usable
            texts is stored in ``vocabulary`` (see :mod:`core.vocabulary`). When given
            with ``max_length``, texts longer than ``max_length`` tokens (special tokens
            included) are counted as truncated.
        min_per_class: Classes with fewer labelled rows block training, because a
            stratified train / validation / test split needs at least this many.
    """
    texts = dataset[TEXT_COLUMN]
    labels = dataset[LABEL_COLUMN]
    empty = texts.str.strip() == ""
    has_label = labels.notna()
    usable = dataset[~empty & has_label]

    exact_duplicates = int(usable.duplicated(subset=[TEXT_COLUMN, LABEL_COLUMN]).sum())
    labels_per_text = usable.groupby(TEXT_COLUMN)[LABEL_COLUMN].nunique()
    conflicting = labels_per_text[labels_per_text > 1]
    conflicting_rows = int(usable[TEXT_COLUMN].isin(conflicting.index).sum())
    counts = usable[LABEL_COLUMN].value_counts()
    class_counts = {name: int(counts.get(name, 0)) for name in label_names(usable[LABEL_COLUMN])}

    report = ValidationReport(
        source=source,
        rows_read=len(dataset),
        empty_texts=int(empty.sum()),
        missing_labels=int((~has_label & ~empty).sum()),
        exact_duplicates=exact_duplicates,
        conflicting_texts=int(len(conflicting)),
        conflicting_rows=conflicting_rows,
        class_counts=class_counts,
        confidence_present=int(dataset[CONFIDENCE_COLUMN].notna().sum()),
        encoding=encoding,
        warnings=list(warnings),
    )

    if tokenizer is not None:
        report.vocabulary = vocabulary_coverage(tokenizer, usable[TEXT_COLUMN].tolist())
    if tokenizer is not None and max_length is not None and len(usable):
        lengths = token_lengths(tokenizer, usable[TEXT_COLUMN].tolist())
        report.max_length = int(max_length)
        report.truncated_texts = int((lengths > max_length).sum())
        report.token_length_p50 = float(np.percentile(lengths, 50))
        report.token_length_p95 = float(np.percentile(lengths, 95))

    if len(class_counts) < 2:
        report.blocking.append(Message(
            "validate_too_few_classes",
            "Found {count} class(es) among labelled rows; training needs at least 2. Check the label column.",
            count=len(class_counts),
        ))
    small = [name for name, count in class_counts.items() if count < min_per_class]
    if small:
        report.blocking.append(Message(
            "validate_small_classes",
            "Class(es) {classes} have fewer than {minimum} rows, too few for a stratified split. Add rows or "
            "remove the class.",
            classes=", ".join(repr(name) for name in small[:5]), minimum=min_per_class,
        ))
    if len(class_counts) > 1000:
        report.blocking.append(Message(
            "validate_label_not_categorical",
            "The label column has {count} distinct values; it is probably not a label. Choose another column.",
            count=len(class_counts),
        ))
    return report


def token_lengths(tokenizer, texts: Sequence[str], batch_size: int = 2048) -> np.ndarray:
    """Return the token count of each text with special tokens, without truncation."""
    lengths: list[int] = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            list(texts[start : start + batch_size]),
            add_special_tokens=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.asarray(lengths, dtype=np.int64)


# --------------------------------------------------------------------------- preparing and splitting


def prepare_for_training(dataset: pd.DataFrame, *, drop_duplicates: bool = True) -> pd.DataFrame:
    """Drop rows without text or label and, by default, repeated (text, label) rows."""
    keep = (dataset[TEXT_COLUMN].str.strip() != "") & dataset[LABEL_COLUMN].notna()
    prepared = dataset[keep]
    if drop_duplicates:
        prepared = prepared.drop_duplicates(subset=[TEXT_COLUMN, LABEL_COLUMN], keep="first")
    return prepared.reset_index(drop=True)


def stratified_subsample(dataset: pd.DataFrame, max_rows: int, *, seed: int) -> pd.DataFrame:
    """Keep at most ``max_rows`` rows, preserving class proportions (seeded)."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1; got {max_rows}.")
    if len(dataset) <= max_rows:
        return dataset
    rng = np.random.default_rng(seed)
    parts = []
    fractions = dataset[LABEL_COLUMN].value_counts(normalize=True)
    for label, share in fractions.items():
        members = np.flatnonzero((dataset[LABEL_COLUMN] == label).to_numpy())
        take = max(1, int(round(share * max_rows)))
        parts.append(rng.choice(members, size=min(take, len(members)), replace=False))
    chosen = np.concatenate(parts)
    if len(chosen) > max_rows:
        # Rounding per class can overshoot by a row or two: drop random rows, not the last class's.
        chosen = rng.choice(chosen, size=max(max_rows, len(parts)), replace=False)
    chosen = np.sort(chosen)
    return dataset.iloc[chosen].reset_index(drop=True)


def assign_splits(
    dataset: pd.DataFrame,
    *,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> pd.Series:
    """Assign each row to train / validation / test, stratified by label and seeded.

    Rows with the same text always share a split, so a duplicated sentence cannot sit
    in train and test at once. Unlabelled rows get ``"unlabelled"``.

    Returns:
        A string Series aligned with ``dataset``.
    """
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1); got {value}.")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"validation_fraction + test_fraction must be below 1; got {validation_fraction + test_fraction}."
        )

    splits = pd.Series(UNLABELLED_SPLIT, index=dataset.index, dtype=object)
    labelled = dataset[dataset[LABEL_COLUMN].notna()]
    # One representative row per distinct text keeps duplicates together.
    groups = labelled.drop_duplicates(subset=[TEXT_COLUMN], keep="first")
    group_labels = groups[LABEL_COLUMN].to_numpy()
    rng = np.random.default_rng(seed)
    group_split = np.empty(len(groups), dtype=object)
    for label in label_names(group_labels):
        members = np.flatnonzero(group_labels == label)
        members = rng.permutation(members)
        n = len(members)
        n_test = int(round(n * test_fraction))
        n_validation = int(round(n * validation_fraction))
        if n >= 3:
            n_test = max(n_test, 1) if test_fraction > 0 else 0
            n_validation = max(n_validation, 1) if validation_fraction > 0 else 0
        n_test = min(n_test, max(n - 1, 0))
        n_validation = min(n_validation, max(n - 1 - n_test, 0))
        group_split[members[:n_test]] = "test"
        group_split[members[n_test : n_test + n_validation]] = "validation"
        group_split[members[n_test + n_validation :]] = "train"
    split_of_text = dict(zip(groups[TEXT_COLUMN].to_numpy(), group_split))
    splits.loc[labelled.index] = labelled[TEXT_COLUMN].map(split_of_text).to_numpy()
    return splits


def load_demo_corpus() -> tuple[RawTable, ColumnMapping]:
    """Read the built-in demo corpus and return it with its column mapping."""
    from core import resources

    path = resources.demo_corpus_path()
    # The packaged file is known to be Windows-1252 (Latin-1) bytes, so it is read as such
    # without the detection warning, which would ask the user to re-save a file they did not supply.
    table = read_table(path, name=path.name, encoding="cp1252")
    mapping = ColumnMapping(
        text=resources.DEMO_TEXT_COLUMN,
        label=resources.DEMO_LABEL_COLUMN,
        confidence=resources.DEMO_CONFIDENCE_COLUMN,
    )
    return table, mapping


