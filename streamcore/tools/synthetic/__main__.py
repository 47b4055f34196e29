"""python -m streamcore.models NAME OUT.tflite [options]: write a synthetic model to a file."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from .cache import write
from .classifiers import CLASSIFIER_DTYPES, non_image_model, tiny_classifier
from .dense import tiny_pose, tiny_segmenter
from .detector import tiny_detector
from .mobilenet import mobilenet_v2

# Builder and the command-line options (argparse dest names) it accepts.
_MODELS: Dict[str, Tuple[Callable[..., bytes], Tuple[str, ...]]] = {
    "mobilenet_v2": (mobilenet_v2, ("num_classes", "seed")),
    "tiny_classifier": (tiny_classifier, ("input_shape", "num_classes", "dtype", "seed")),
    "tiny_detector": (tiny_detector, ("input_size", "num_classes", "max_detections", "seed")),
    "tiny_segmenter": (tiny_segmenter, ("input_size", "argmax")),
    "tiny_pose": (tiny_pose, ("input_size", "seed")),
    "non_image_model": (non_image_model, ()),
}


def _int_tuple(text: str) -> Tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers, e.g. 32,32,3")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m streamcore.models", description=__doc__)
    parser.add_argument("name", choices=sorted(_MODELS))
    parser.add_argument("output", help="path of the .tflite file to write")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--num-classes", type=int)
    parser.add_argument("--input-shape", type=_int_tuple, help="tiny_classifier: H,W,C")
    parser.add_argument("--dtype", choices=CLASSIFIER_DTYPES, help="tiny_classifier input dtype")
    parser.add_argument("--input-size", type=_int_tuple,
                        help="tiny_detector: H,W (multiples of 8); tiny_segmenter, tiny_pose: H,W (multiples of 4)")
    parser.add_argument("--argmax", action="store_const", const=True,
                        help="tiny_segmenter: end in ARG_MAX (a class map) instead of per-class scores")
    parser.add_argument("--max-detections", type=int, help="tiny_detector")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    builder, accepted = _MODELS[args.name]
    given: Dict[str, Any] = {
        key: value for key, value in vars(args).items() if key not in ("name", "output") and value is not None
    }
    rejected = sorted(set(given) - set(accepted))
    if rejected:
        flags = ", ".join("--" + key.replace("_", "-") for key in rejected)
        parser.error(f"{args.name} does not take {flags}; it takes: "
                     + (", ".join("--" + key.replace("_", "-") for key in accepted) or "no options"))
    path = write(builder(**given), args.output)
    print(f"wrote {args.name} to {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
