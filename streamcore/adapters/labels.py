"""Label files: ``id label`` per line, or one label per line (line number = class id)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

from ..errors import ModelError

__all__ = ["read_labels", "as_label_map", "PLACEHOLDER_LABELS", "LabelsArg"]

# Gap fillers some label files use for ids the model never predicts ("n/a" in Coral's COCO
# labels, "???" in TensorFlow's).
PLACEHOLDER_LABELS = frozenset({"n/a", "???"})

LabelsArg = Union[Mapping[int, str], str, Path, None]

_ID_LINE = re.compile(r"^\s*(\d+)[:\s]+(.+)$")
_FORMATS_HINT = ("pass a UTF-8 text file with either one label per line (line number = class id) "
                 "or 'id label' per line (e.g. '3  tiger shark' or '3: tiger shark')")


def read_labels(path: Union[str, Path], *, skip_placeholders: bool = False) -> Dict[int, str]:
    """Reads a label file into ``{class id: label}``.

    The format is detected per file, as pycoral's ``read_label_file`` does: when every
    non-blank line is ``<id><spaces, tabs or colon><label>`` the ids are read from the lines;
    otherwise line ``i`` (counting blank lines, which leave a gap) is the label of class ``i``.
    Placeholders such as ``"n/a"`` are kept unless ``skip_placeholders`` is set.
    """
    text = _read_text(Path(path))
    lines = [line.rstrip() for line in text.splitlines()]
    if not any(lines):
        raise ModelError(f"label file {path} is empty: {_FORMATS_HINT}")

    matches = [_ID_LINE.match(line) for line in lines if line]
    labels: Dict[int, str] = {}
    if all(matches):
        for match in matches:
            assert match is not None  # all() above; for the type checker
            class_id, label = int(match.group(1)), match.group(2).strip()
            if class_id in labels:
                raise ModelError(f"label file {path} lists class id {class_id} twice "
                                 f"({labels[class_id]!r} and {label!r}): keep one line per id")
            labels[class_id] = label
    else:
        labels = {i: line.strip() for i, line in enumerate(lines) if line.strip()}

    if skip_placeholders:
        labels = {i: label for i, label in labels.items() if not is_placeholder(label)}
    return labels


def is_placeholder(label: str) -> bool:
    return label.strip().lower() in PLACEHOLDER_LABELS


def as_label_map(labels: LabelsArg) -> Optional[Mapping[int, str]]:
    """Accepts what adapters take as ``labels``: a mapping, a label file path, or None."""
    if labels is None:
        return None
    if isinstance(labels, (str, Path)):
        return read_labels(labels)
    if not isinstance(labels, Mapping):
        raise ModelError(f"labels must be a {{id: label}} mapping, a label file path or None, "
                         f"not {type(labels).__name__}")
    return labels


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"label file {path} not found: pass the path of an existing label file "
                         f"(or a {{id: label}} dict, or None for no labels)") from None
    except IsADirectoryError:
        raise ModelError(f"label file {path} is a directory: pass the path of the label "
                         f"file itself") from None
    except OSError as e:
        raise ModelError(f"cannot read label file {path} ({e.strerror}): check its "
                         f"permissions") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelError(f"label file {path} is not UTF-8 text (is it the model rather than "
                         f"its labels?): {_FORMATS_HINT}") from None
    if "\x00" in text:
        raise ModelError(f"label file {path} holds binary data (is it the model rather than "
                         f"its labels?): {_FORMATS_HINT}")
    return text
